"""onesp audit against a state seeded with each kind of inconsistency, on a shared cluster."""

import json
import subprocess
import sys

MIB = 1024 * 1024


def onesp(stack, *argv):
    r = subprocess.run([sys.executable, "-m", "onesp", *argv], capture_output=True, env=stack.env)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def seed(stack):
    tags = {"virt": "one", "nloc": "one"}
    stack.put_image(5)
    stack.put_image(6, create_volume=False)  # missing volume
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)], context=False)
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(tags, nvm="7", diskid="0"))
    stack.sp.attach("one-img-5-7-0", 1)
    stack.sp.attach("one-img-5-7-0", 2)  # stale: VM 7 runs on node1 only
    stack.put_vm(9, disks=[stack.b.image_disk(0, 5, size=16)], context=False)
    stack.sp.volume_create("one-img-5-9-0", base_on="one-img-5", tags=dict(tags, nvm="8", diskid="0"))  # wrong nvm
    stack.sp.attach("one-img-5-9-0", 1)
    stack.sp.volume_create("one-img-5-8-0", base_on="one-img-5", tags=dict(tags, nvm="8"))  # orphan: no VM 8
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap3")  # orphan: image 5 has no snapshot 3
    stack.sp.volume_create("one-sys-3-1-raw", size=MIB, tags={})  # orphan by name alone
    stack.sp.volume_create("scratch", size=MIB, tags=dict(tags))  # orphan by tags alone
    stack.sp.volume_snapshot("one-img-5-8-0", tags=tags, delete_after=3600)  # delayed delete: not an orphan
    # another OpenNebula instance sharing the cluster, and an unrelated user of StorPool
    stack.sp.volume_create("two-img-1", size=MIB, tags={"virt": "one", "nloc": "two"})
    stack.sp.volume_create("two-img-1-4-0", base_on="two-img-1", tags={"virt": "one", "nloc": "two", "nvm": "4"})
    stack.sp.volume_create("k8s-pvc-1", size=MIB)


def test_audit_reports_each_inconsistency_and_nothing_foreign(stack):
    seed(stack)
    code, out, err = onesp(stack, "audit", "--json")
    assert code == 1, err
    found = {(f["kind"], f["object"]) for f in json.loads(out)["findings"]}
    assert found == {
        ("orphan", "one-img-5-8-0"),
        ("orphan", "one-img-5-snap3"),
        ("orphan", "one-sys-3-1-raw"),
        ("orphan", "scratch"),
        ("missing", "one-img-6"),
        ("stale", "one-img-5-7-0"),
        ("tags", "one-img-5-9-0"),
    }
    code, text, _ = onesp(stack, "audit")
    assert "4 orphans, 1 missing, 1 stale attachments, 1 tag mismatches" in text


def test_delete_orphans_removes_only_orphans(stack):
    seed(stack)
    before = set(stack.volume_names())
    code, _, err = onesp(stack, "audit", "--delete-orphans")
    assert code == 2 and "--yes" in err
    assert set(stack.volume_names()) == before
    code, out, err = onesp(stack, "audit", "--delete-orphans", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["removed"] == 4
    assert set(stack.volume_names()) == before - {"one-img-5-8-0", "one-sys-3-1-raw", "scratch"}
    assert "one-img-5-snap3" not in stack.snapshot_names()
    code, out, _ = onesp(stack, "audit", "--json")
    assert {f["kind"] for f in json.loads(out)["findings"]} == {"missing", "stale", "tags"}


def test_clean_state_exit_zero(stack):
    stack.put_image(5)
    code, out, err = onesp(stack, "audit")
    assert code == 0, err + out
    assert "0 orphans, 0 missing" in out


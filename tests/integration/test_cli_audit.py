"""onesp audit against a state seeded with each kind of inconsistency, on a shared cluster."""

import json
import subprocess
import sys
import time

MIB = 1024 * 1024


#: The seeded orphans were made a moment ago: audit them with no grace period.
NO_GRACE = {"ONESP_AUDIT_ORPHAN_GRACE": ""}


def onesp(stack, *argv, env=None):
    r = subprocess.run([sys.executable, "-m", "onesp", *argv], capture_output=True, env=dict(stack.env, **(env or {})))
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
    code, out, err = onesp(stack, "audit", "--delete-orphans", "--yes", "--json", env=NO_GRACE)
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



def in_flight_snapshot(stack):
    """VM 7's disk 0 and its snapshot 0 as tm snap_create leaves it, before oned records it."""
    tags = {"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0"}
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)], context=False)
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=tags)
    stack.sp.attach("one-img-5-7-0", 1)
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
    stack.sp.volume_create("one-img-5-8-0", base_on="one-img-5", tags=dict(tags, nvm="8"))  # a VM 8 being deployed


def test_an_orphan_younger_than_the_grace_period_is_listed_too_new_and_kept(stack):
    in_flight_snapshot(stack)
    code, out, err = onesp(stack, "audit", "--delete-orphans", "--yes", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["removed"] == 0
    findings = {f["object"]: f for f in report["findings"]}
    assert sorted(findings) == ["one-img-5-7-0-snap0", "one-img-5-8-0"]
    for finding in findings.values():
        assert finding["kind"] == "orphan" and finding["too_new"] is True
        assert 0 <= finding["age"] < 60
        assert finding["detail"].endswith("too new to remove (AUDIT_ORPHAN_GRACE 1h)")
    assert stack.snapshot_names() == ["one-img-5-7-0-snap0"]
    assert stack.volume_names() == ["one-img-5", "one-img-5-7-0", "one-img-5-8-0"]
    code, text, _ = onesp(stack, "audit")
    assert code == 1
    assert "2 orphans are too new to remove: created less than AUDIT_ORPHAN_GRACE (3600s) ago" in text
    assert "one-img-5-7-0-snap0" in text and "too new to remove" in text


def test_an_orphan_older_than_the_grace_period_is_removed(stack):
    in_flight_snapshot(stack)
    grace = {"ONESP_AUDIT_ORPHAN_GRACE": "2s"}
    code, out, _ = onesp(stack, "audit", "--delete-orphans", "--yes", "--json", env=grace)
    assert json.loads(out)["removed"] == 0
    time.sleep(2.2)
    code, out, err = onesp(stack, "audit", "--delete-orphans", "--yes", "--json", env=grace)
    assert code == 0, err
    report = json.loads(out)
    assert report["removed"] == 2
    assert all(f["too_new"] is False and f["age"] >= 2 for f in report["findings"])
    assert "one-img-5-7-0-snap0" not in stack.snapshot_names()
    assert stack.volume_names() == ["one-img-5", "one-img-5-7-0"]

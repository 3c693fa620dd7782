"""onesp report: StorPool space per VM and per datastore, in three formats, from five API calls."""

import csv
import io
import json
import subprocess
import sys

MIB = 1024 * 1024
TAGS = {"virt": "one", "nloc": "one"}


def onesp(stack, *argv):
    r = subprocess.run([sys.executable, "-m", "onesp", *argv], capture_output=True, env=stack.env)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def seed(stack, vms=(7, 8)):
    """Image 5 (16 MiB, 4 KiB written) cloned by each VM as disk 0 (32 MiB) with an 8 MiB volatile
    disk 1; VM 7 wrote 1 MiB, took disk snapshot 0, then wrote 4 KiB more. Image 6 is free.
    Also present and never counted: another instance's volume, an orphan, a foreign volume."""
    stack.put_image(5, data=b"x" * 4096)
    stack.put_image(6, size_mb=64)
    for vm in vms:
        stack.put_vm(vm, disks=[stack.b.image_disk(0, 5, size=32), stack.b.volatile_disk(1, 8)], context=False)
        stack.sp.volume_create("one-img-5-%d-0" % vm, base_on="one-img-5", size=32 * MIB, tags=dict(TAGS, nvm=str(vm)))
        stack.sp.volume_create("one-sys-%d-1-raw" % vm, size=8 * MIB, template="one-ds-101", tags=dict(TAGS, nvm=str(vm)))
    stack.write_volume("one-img-5-7-0", b"y" * MIB, offset=4 * MIB)
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
    stack.write_volume("one-img-5-7-0", b"z" * 4096, offset=8 * MIB)
    stack.sp.volume_create("two-img-1", size=100 * MIB, tags={"virt": "one", "nloc": "two"})
    stack.sp.volume_create("one-img-5-99-0", base_on="one-img-5", size=100 * MIB, tags=dict(TAGS, nvm="99"))
    stack.sp.volume_create("k8s-pvc-1", size=100 * MIB)


def stored(stack, name):
    return next(v["storedSize"] for v in stack.sp.volumes_space() if v["name"] == name)


def test_report_json_sums_each_vm_and_datastore_from_five_calls(stack):
    seed(stack)
    snap = next(s["storedSize"] for s in stack.sp.snapshots_space() if s["name"] == "one-img-5-7-0-snap0")
    assert snap >= MIB
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    code, out, err = onesp(stack, "report", "--format", "json")
    assert code == 0, err
    assert stack.ctl.counts() == {"VolumesSpace": 1, "SnapshotsSpace": 1}
    assert stack.oned.call_log().counts == {"one.datastorepool.info": 1, "one.imagepool.info": 1,
                                            "one.vmpool.infoextended": 1}
    report = json.loads(out)
    vms = {r["id"]: r for r in report["vms"]}
    assert vms[7] == {"kind": "vm", "id": 7, "name": "vm-7", "volumes": 2, "provisioned": 40 * MIB,
                      "stored": stored(stack, "one-img-5-7-0") + stored(stack, "one-sys-7-1-raw"), "snapshots": snap}
    assert stored(stack, "one-img-5-7-0") == 4096  # only what was written after the snapshot
    assert vms[8]["provisioned"] == 40 * MIB and vms[8]["snapshots"] == 0
    assert sorted(vms) == [7, 8]
    ds = {r["id"]: r for r in report["datastores"]}
    assert ds[100]["volumes"] == 4 and ds[100]["provisioned"] == (16 + 64 + 32 + 32) * MIB  # images 5, 6 + clones
    assert ds[101]["volumes"] == 2 and ds[101]["provisioned"] == 16 * MIB
    assert ds[100]["snapshots"] == snap and ds[101]["snapshots"] == 0
    names = {v["name"] for v in report["volumes"]}
    assert names == {"one-img-5", "one-img-6", "one-img-5-7-0", "one-img-5-8-0", "one-sys-7-1-raw", "one-sys-8-1-raw"}


def test_report_cost_does_not_grow_with_the_number_of_vms(stack):
    seed(stack, vms=range(7, 47))  # 40 VMs instead of 2
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    code, out, err = onesp(stack, "report", "--format", "csv")
    assert code == 0, err
    assert stack.ctl.counts() == {"VolumesSpace": 1, "SnapshotsSpace": 1}
    assert sum(stack.oned.call_log().counts.values()) == 3
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["kind", "id", "name", "volumes", "provisioned_bytes", "stored_bytes", "snapshots_bytes"]
    assert [r["id"] for r in rows if r["kind"] == "vm"] == [str(i) for i in range(7, 47)]
    assert {r["id"]: int(r["provisioned_bytes"]) for r in rows if r["kind"] == "datastore"} == {
        "100": (16 + 64 + 40 * 32) * MIB, "101": 40 * 8 * MIB}


def test_report_table_and_datastore_filter(stack):
    seed(stack)
    code, out, err = onesp(stack, "report", "--datastore", "101")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["VM", "NAME", "VOLUMES", "PROVISIONED", "STORED", "SNAPSHOTS"]
    assert lines[1].split()[:5] == ["7", "vm-7", "1", "8.0", "MiB"]
    assert "DATASTORE" in lines[lines.index("") + 1]
    datastore_rows = lines[lines.index("") + 2:]
    assert [row.split()[0] for row in datastore_rows] == ["101", "total"]
    assert datastore_rows[-1].split()[1:3] == ["2", "16.0"]
    code, _, err = onesp(stack, "report", "--datastore", "555")
    assert code == 1 and err.strip() == "Error: not found: oned has no datastore 555"

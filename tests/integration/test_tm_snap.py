"""tm snap_create, snap_delete, snap_revert, run as oned runs them (disk snapshots of a deployed VM)."""

import os

MIB = 1024 * 1024
VOL = "one-img-5-7-0"


def _deploy(stack, snapshots=(), user_template=None, size=16, extra_disks=()):
    """VM 7 on node1 with disk 0 a clone of image 5 (made by tm clone, as at deploy)."""
    stack.put_image(5, data=b"boot")
    disk = stack.b.image_disk(0, 5, size=size, snapshots=snapshots)
    stack.put_vm(7, disks=[disk, *extra_disks], user_template=user_template)
    r = stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100")
    assert r.ok, r


def _snap(stack, action, snap_id, disk=0, ds="100", **kwargs):
    return stack.tm(action, stack.disk_path("node1", 7, disk), str(snap_id), "7", ds, **kwargs)


def _write_disk(stack, data, disk=0, offset=0):
    with open(stack.local_disk(7, disk), "r+b") as dev:
        dev.seek(offset)
        dev.write(data)


def _read_disk(stack, length, disk=0, offset=0):
    with open(stack.local_disk(7, disk), "rb") as dev:
        dev.seek(offset)
        return dev.read(length)


def _identity(stack, name):
    vol = stack.volume(name)
    return {k: vol[k] for k in ("name", "globalId", "tags", "templateName")}


def test_snapshot_overwrite_revert_brings_the_bytes_back_in_place(stack):
    _deploy(stack)
    _write_disk(stack, b"state at snapshot 0")
    stack.ctl.reset_calls()
    r = _snap(stack, "snap_create", 0)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumeSnapshot": 1}
    assert "one-img-5-7-0-snap0" in stack.snapshot_names()
    assert stack.snapshot_names().count("one-img-5-7-0-snap0") == 1
    _write_disk(stack, b"overwritten later!!")
    before = _identity(stack, VOL)
    link_before = os.readlink(stack.local_disk(7, 0))
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16, snapshots=[stack.b.disk_snapshot(0)])])
    stack.ctl.reset_calls()
    r = _snap(stack, "snap_revert", 0)
    assert r.ok, r
    assert stack.ctl.counts() == {"Snapshot": 1, "VolumesReassignWait": 2, "VolumeRevert": 1}
    assert _read_disk(stack, 19) == b"state at snapshot 0"
    assert _identity(stack, VOL) == before
    assert stack.clients_of(VOL) == {1: "rw"}
    assert os.readlink(stack.local_disk(7, 0)) == link_before
    assert "one-img-5-7-0-snap0" in stack.snapshot_names()  # the snapshot stays for later reverts
    again = _snap(stack, "snap_revert", 0)
    assert again.ok, again
    assert _read_disk(stack, 19) == b"state at snapshot 0"


def test_snap_create_rerun_succeeds_and_a_foreign_snapshot_is_refused(stack):
    _deploy(stack)
    assert _snap(stack, "snap_create", 0).ok
    before = stack.state()
    again = _snap(stack, "snap_create", 0)
    assert again.ok, again
    assert stack.state() == before
    stack.sp.volume_create("other", size=MIB)
    stack.sp.volume_snapshot("other", "one-img-5-7-0-snap1")
    r = _snap(stack, "snap_create", 1)
    assert r.code != 0
    assert r.error_lines == ["tm snap_create: snapshot volume one-img-5-7-0 as one-img-5-7-0-snap1: already exists: "
                             "snapshot one-img-5-7-0-snap1 exists but was taken from other, not from one-img-5-7-0"]


def test_volatile_disk_snapshots_use_its_own_volume(stack):
    volatile = stack.b.volatile_disk(1, 16)
    _deploy(stack, extra_disks=[volatile])
    stack.sp.volume_create("one-sys-7-1-raw", size=16 * MIB, template="one-ds-101",
                           tags={"virt": "one", "nloc": "one", "nvm": "7", "diskid": "1", "type": "VOL"})
    r = _snap(stack, "snap_create", 0, disk=1, ds="101")
    assert r.ok, r
    assert "one-sys-7-1-raw-snap0" in stack.snapshot_names()
    assert not [s for s in stack.snapshot_names() if s.endswith("-snap0") and s != "one-sys-7-1-raw-snap0"]
    r = _snap(stack, "snap_delete", 0, disk=1, ds="101")
    assert r.ok, r
    assert "one-sys-7-1-raw-snap0" not in stack.snapshot_names()


def test_cdrom_snapshot_is_refused_with_one_line(stack):
    stack.put_image(6, type="CDROM")
    stack.put_vm(7, disks=[stack.b.cdrom_disk(0, 6)])
    before = stack.state()
    r = _snap(stack, "snap_create", 0)
    assert r.code != 0
    assert r.error_lines == ["tm snap_create: unsupported: disk 0 of VM 7 is a CD-ROM; CD-ROMs have no snapshots"]
    assert stack.state() == before


def test_limit_refuses_the_snapshot_beyond_it(stack):
    existing = [stack.b.disk_snapshot(0), stack.b.disk_snapshot(1, parent=0)]
    # oned lists the snapshot being made (2) before it runs snap_create
    _deploy(stack, snapshots=existing + [stack.b.disk_snapshot(2, parent=1)], user_template={"DISKSNAPSHOT_LIMIT": 2})
    before = stack.state()
    r = _snap(stack, "snap_create", 2)
    assert r.code != 0
    assert r.error_lines == ["tm snap_create: limit reached: DISKSNAPSHOT_LIMIT of 2 snapshots per disk reached: "
                             "disk 0 of VM 7 already has 2"]
    assert stack.state() == before
    # a limit of 3 lets the third one through
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16, snapshots=existing)],
                 user_template={"DISKSNAPSHOT_LIMIT": 3})
    assert _snap(stack, "snap_create", 2).ok


def test_limit_precedence_vm_then_datastore_then_system_datastore_then_config(stack):
    _deploy(stack, snapshots=[stack.b.disk_snapshot(0)])

    def refused(env=None):
        r = _snap(stack, "snap_create", 1, env=env)
        if r.ok:
            assert stack.sp.snapshot_delete("one-img-5-7-0-snap1") is None
        return (not r.ok, r.error_lines)

    assert refused() == (False, [])
    assert refused({"ONESP_DISKSNAPSHOT_LIMIT": "1"})[0]
    stack.put_datastore(101, kind="SYSTEM", template={"DISKSNAPSHOT_LIMIT": "1"})
    assert refused()[0]
    stack.put_datastore(100, template={"DISKSNAPSHOT_LIMIT": "5"})  # the image datastore beats the system one
    assert refused() == (False, [])
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16, snapshots=[stack.b.disk_snapshot(0)])],
                 user_template={"DISKSNAPSHOT_LIMIT": "1"})  # the VM beats both
    assert refused()[0]
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16, snapshots=[stack.b.disk_snapshot(0)])],
                 user_template={"DISKSNAPSHOT_LIMIT": "many"})
    r = _snap(stack, "snap_create", 1)
    assert r.code != 0 and "DISKSNAPSHOT_LIMIT" in r.error_lines[0] and "'many'" in r.error_lines[0]


def test_snap_delete_removes_exactly_that_snapshot_and_a_missing_one_is_fine(stack):
    _deploy(stack)
    for snap in (1, 10, 11):
        assert _snap(stack, "snap_create", snap).ok
    stack.ctl.reset_calls()
    r = _snap(stack, "snap_delete", 1)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumesReassignWait": 1, "SnapshotDelete": 1}
    assert [s for s in stack.snapshot_names() if s.startswith(VOL)] == ["one-img-5-7-0-snap10", "one-img-5-7-0-snap11"]
    again = _snap(stack, "snap_delete", 1)
    assert again.ok, again
    assert _read_disk(stack, 4) == b"boot"


def test_revert_grows_the_volume_back_to_the_size_oned_keeps(stack):
    _deploy(stack)
    _write_disk(stack, b"small")
    assert _snap(stack, "snap_create", 0).ok
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=32, snapshots=[stack.b.disk_snapshot(0, size=16)])])
    assert stack.tm("resize", stack.disk_path("node1", 7, 0), "32", "7", "100").ok
    _write_disk(stack, b"LARGE", offset=20 * MIB)
    stack.ctl.reset_calls()
    r = _snap(stack, "snap_revert", 0)
    assert r.ok, r
    assert stack.ctl.counts()["VolumeUpdate"] == 1
    assert stack.volume(VOL)["size"] == 32 * MIB
    assert _read_disk(stack, 5) == b"small"
    assert _read_disk(stack, 5, offset=20 * MIB) == b"\0" * 5  # beyond the snapshot: empty, as the snapshot had it


def test_revert_to_a_missing_snapshot_changes_nothing(stack):
    _deploy(stack)
    before = stack.state()
    r = _snap(stack, "snap_revert", 3)
    assert r.code != 0
    assert r.error_lines[0].startswith("tm snap_revert: read snapshot one-img-5-7-0-snap3: not found:")
    assert stack.state() == before


def test_revert_of_a_cdrom_is_refused(stack):
    stack.put_image(6, type="CDROM")
    stack.put_vm(7, disks=[stack.b.cdrom_disk(0, 6)])
    r = _snap(stack, "snap_revert", 0)
    assert r.code != 0
    assert r.error_lines == ["tm snap_revert: unsupported: disk 0 of VM 7 is a CD-ROM; CD-ROMs have no snapshots"]


def test_revert_refuses_a_disk_still_open_on_the_host(stack):
    _deploy(stack)
    assert _snap(stack, "snap_create", 0).ok
    stack.ctl.set_open(VOL, 1)
    before = stack.state()
    r = _snap(stack, "snap_revert", 0)
    assert r.code != 0
    assert r.error_lines[0].startswith("tm snap_revert: detach one-img-5-7-0 from node1: busy:")
    assert stack.state() == before

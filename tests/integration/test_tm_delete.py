"""tm delete, run as oned runs it: disks and VM directories, exactly and idempotently."""

import os

MIB = 1024 * 1024
TS = 1736100000


def _delete_disk(stack, disk, ds=100, vm=7, host="node1", **kwargs):
    return stack.tm("delete", stack.disk_path(host, vm, disk), str(vm), str(ds), **kwargs)


def _clone(stack, disk, image=5, vm=7):
    r = stack.tm("clone", "fe:one-ds-100/one-img-%d" % image, stack.disk_path("node1", vm, disk), str(vm), "100")
    assert r.ok, r


def _anonymous(stack):
    """The snapshots DELAY_DELETE left (StorPool names them <volume>@<id>), with their state."""
    return [dict(s, name=name) for name, s in stack.state()["snapshots"].items() if s["targetDeleteDate"]]


def test_delete_of_a_non_persistent_disk_keeps_a_delayed_snapshot(stack):
    stack.put_image(5, data=b"image")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    _clone(stack, 0)
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.write(b"guest")
    stack.ctl.reset_calls()
    r = _delete_disk(stack, 0)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert r.stdout == ""
    assert counts == {"VolumesReassignWait": 1, "VolumeSnapshot": 1, "VolumeDelete": 1}, counts
    assert stack.volume_names() == ["one-img-5"]
    [kept] = _anonymous(stack)
    assert kept["tags"] == {"virt": "one", "nloc": "one", "nvm": "7"}
    assert abs(kept["targetDeleteDate"] - stack.ctl.now() - 48 * 3600) < 60
    assert stack.read_volume(kept["name"], 5, snapshot=True) == b"guest"
    assert not os.path.lexists(stack.local_disk(7, 0))
    assert not os.path.exists(str(stack.local_disk(7, 0)) + ".monitor")
    assert stack.attachments() == []
    stack.ctl.reset_calls()
    again = _delete_disk(stack, 0)
    assert again.ok, again
    assert stack.ctl.counts() == {"VolumesReassignWait": 1}
    assert len(_anonymous(stack)) == 1


def test_delete_touches_exactly_this_disk_not_disks_sharing_its_prefix(stack):
    """The addon's tm/delete removed every one-sys-<vm>-<d>* volume: disk 1 took disks 10-19 along."""
    stack.put_image(5)
    disks = [stack.b.image_disk(0, 5, size=16), stack.b.volatile_disk(1, 16)]
    disks += [stack.b.volatile_disk(d, 16) for d in range(2, 10)]
    disks += [stack.b.volatile_disk(10, 16), stack.b.image_disk(11, 5, size=16), stack.b.volatile_disk(19, 16)]
    stack.put_vm(7, disks=disks)
    for d in (1, 10, 19):
        assert stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, d), "7", "101").ok
    _clone(stack, 11)
    stack.sp.volume_create("one-img-5-7-1", size=MIB)  # not this VM's disk 1: disk 1 is volatile
    r = _delete_disk(stack, 1, ds=101)
    assert r.ok, r
    assert stack.volume_names() == ["one-img-5", "one-img-5-7-1", "one-img-5-7-11", "one-sys-7-10-raw",
                                    "one-sys-7-19-raw"]
    assert os.path.islink(stack.local_disk(7, 10)) and not os.path.lexists(stack.local_disk(7, 1))


def test_delete_gives_a_persistent_image_back_and_never_deletes_it(stack):
    stack.put_image(6, persistent=True, data=b"keep me")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, size=16)],
                 user_template={"VC_POLICY": "daily", "SP_QOSCLASS": "gold"})
    assert stack.tm("ln", "fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 0), "7", "100").ok
    stack.sp.attach("one-img-6", 2)
    r = _delete_disk(stack, 0, env={"ONESP_DEFAULT_QOSCLASS": "standard"})
    assert r.ok, r
    assert stack.volume("one-img-6")["tags"] == {"virt": "one", "nloc": "one", "qc": "standard"}
    assert stack.clients_of("one-img-6") == {}
    assert stack.read_volume("one-img-6", 7) == b"keep me"
    assert stack.snapshot_names() == []


def test_delete_removes_the_vm_snapshots_of_this_volume_by_exact_name(stack):
    stack.put_image(5)
    snaps = [stack.b.vm_snapshot(0, "ONESNAP-0-%d" % TS), stack.b.vm_snapshot(1, "ONESNAP-1-%d" % (TS + 60))]
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.image_disk(1, 5, size=16)], vm_snapshots=snaps)
    _clone(stack, 0)
    _clone(stack, 1)
    for volume in ("one-img-5-7-0", "one-img-5-7-1"):
        for snap_id, ts in ((0, TS), (1, TS + 60)):
            stack.sp.volume_snapshot(volume, "%s-ONESNAP-%d-%d" % (volume, snap_id, ts))
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-ONESNAP-7-%d" % TS)  # not in the VM document
    r = _delete_disk(stack, 0)
    assert r.ok, r
    assert [n for n in stack.snapshot_names() if "@" not in n] == [
        "one-img-5-7-0-ONESNAP-7-%d" % TS, "one-img-5-7-1-ONESNAP-0-%d" % TS, "one-img-5-7-1-ONESNAP-1-%d" % (TS + 60)]
    kept = stack.tm("delete", stack.disk_path("node1", 7, 1), "7", "100", env={"ONESP_VMSNAPSHOT_DELETE_ON_TERMINATE": "0"})
    assert kept.ok, kept
    assert "one-img-5-7-1-ONESNAP-0-%d" % TS in stack.snapshot_names()


def test_delete_keeps_vm_snapshots_on_cleanup_resubmit(stack):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)], lcm_state=15,
                 vm_snapshots=[stack.b.vm_snapshot(0, "ONESNAP-0-%d" % TS)])
    _clone(stack, 0)
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-ONESNAP-0-%d" % TS)
    assert _delete_disk(stack, 0).ok
    assert "one-img-5-7-0-ONESNAP-0-%d" % TS in stack.snapshot_names()


def test_delete_of_a_cdrom_clone_is_immediate(stack):
    stack.put_image(9, type="CDROM")
    stack.put_vm(7, disks=[stack.b.cdrom_disk(0, 9, size=16)])
    assert stack.tm("ln", "fe:one-ds-100/one-img-9", stack.disk_path("node1", 7, 0), "7", "100").ok
    r = _delete_disk(stack, 0)
    assert r.ok, r
    assert stack.volume_names() == ["one-img-9"]
    assert stack.snapshot_names() == []


def test_delete_of_the_vm_directory(stack):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.volatile_disk(1, 16),
                           stack.b.volatile_disk(2, 16, kind="swap")],
                 vm_snapshots=[stack.b.vm_snapshot(0, "ONESNAP-0-%d" % TS)])
    _clone(stack, 0)
    assert stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, 1), "7", "101").ok
    assert stack.tm("mkswap", "16", stack.disk_path("node1", 7, 2), "7", "101").ok
    stack.sp.volume_create("one-sys-7-3-iso", size=MIB)
    for volume in ("one-sys-7-1-raw", "one-sys-7-3-iso", "one-img-5-7-0"):
        stack.sp.volume_snapshot(volume, "%s-ONESNAP-0-%d" % (volume, TS))
    stack.sp.attach("one-sys-7-3-iso", 1)
    stack.sp.volume_create("one-sys-7-NVRAM", size=MIB)
    stack.sp.volume_create("one-sys-77-NVRAM", size=MIB)
    (stack.ds_location / "101" / "7" / "checkpoint").write_bytes(b"x")
    r = stack.tm("delete", stack.vm_dir("node1", 7), "7", "101")
    assert r.ok, r
    assert stack.volume_names() == ["one-img-5", "one-img-5-7-0", "one-sys-77-NVRAM"]  # disk 0 has its own DELETE
    assert len(_anonymous(stack)) == 3  # raw, swap and NVRAM are kept for DELAY_DELETE; the ISO is not
    assert not (stack.ds_location / "101" / "7").exists()
    assert [n for n in stack.snapshot_names() if "@" not in n] == ["one-img-5-7-0-ONESNAP-0-%d" % TS]
    again = stack.tm("delete", stack.vm_dir("node1", 7), "7", "101")
    assert again.ok, again


def test_delete_with_the_host_down_still_releases_storpool(stack, tmp_path):
    ssh = tmp_path / "ssh"
    ssh.write_text("#!/bin/sh\necho 'ssh: connect to host node1 port 22: No route to host' >&2\nexit 255\n")
    ssh.chmod(0o755)
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    _clone(stack, 0)
    down = {"ONESP_HOST_EXEC": "ssh", "ONESP_SSH": str(ssh)}
    r = _delete_disk(stack, 0, env=down)
    assert r.ok, r
    assert stack.volume_names() == ["one-img-5"]
    assert r.stdout.strip() == ("host node1 is unreachable: the StorPool part is done, removing %s there was skipped"
                                % stack.local_disk(7, 0))
    assert os.path.islink(stack.local_disk(7, 0))  # nothing ran on the host
    r = stack.tm("delete", stack.vm_dir("node1", 7), "7", "101", env=down)
    assert r.ok and "removing %s there was skipped" % (stack.ds_location / "101" / "7") in r.stdout
    assert "host node1 unreachable, skipped" in stack.log_text()


def test_delete_of_a_disk_oned_no_longer_lists_removes_only_the_path(stack):
    stack.put_vm(7, disks=[])
    link = stack.local_disk(7, 4)
    link.parent.mkdir(parents=True)
    link.symlink_to("/nonexistent")
    r = _delete_disk(stack, 4)
    assert r.ok, r
    assert not os.path.lexists(link)


def test_delete_host_error_other_than_unreachable_fails(stack):
    stack.put_vm(7, disks=[])
    r = stack.tm("delete", "node1:/7", "7", "101")
    assert r.code != 0
    assert r.error_lines == ["tm delete: remove /7 on node1: bad input: refusing to remove '/7': not a VM directory"]


def test_delete_each_failing_call_fails_cleanly_and_a_rerun_completes(stack):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    _clone(stack, 0)
    for call in ("VolumesReassignWait", "VolumeSnapshot", "VolumeDelete"):
        stack.ctl.inject_fault(call, error="busy", descr="injected")
        r = _delete_disk(stack, 0)
        stack.ctl.clear_faults()
        assert r.code != 0 and r.error_lines[0].startswith("tm delete: delete volume one-img-5-7-0: busy: injected"), r
        assert len(r.error_lines) == 1
    r = _delete_disk(stack, 0)
    assert r.ok, r
    assert stack.volume_names() == ["one-img-5"]


def test_delete_removes_the_disk_snapshots_oned_lists_and_nothing_else(stack):
    b = stack.b
    stack.put_image(5)
    stack.put_vm(7, disks=[b.image_disk(0, 5, size=16, snapshots=[b.disk_snapshot(0), b.disk_snapshot(1)]),
                           b.image_disk(1, 5, size=16)], context=False)
    for disk in (0, 1):
        stack.sp.volume_create("one-img-5-7-%d" % disk, base_on="one-img-5",
                               tags={"virt": "one", "nloc": "one", "nvm": "7", "diskid": str(disk)})
    for name in ("one-img-5-7-0-snap0", "one-img-5-7-0-snap1"):
        stack.sp.volume_snapshot("one-img-5-7-0", name)
    stack.sp.volume_snapshot("one-img-5-7-1", "one-img-5-7-1-snap0")
    r = stack.tm("delete", stack.disk_path("node1", 7, 0), "7", "100")
    assert r.ok, r
    snaps = stack.snapshot_names()
    assert "one-img-5-7-0-snap0" not in snaps and "one-img-5-7-0-snap1" not in snaps
    assert "one-img-5-7-1-snap0" in snaps

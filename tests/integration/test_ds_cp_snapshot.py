"""ds cp (and stat) of images made from StorPool snapshots: SPSNAPSHOT:<name> and VM:<vm>-DISK:<disk>-VMSNAP:<id>."""

from __future__ import annotations

MIB = 1024 * 1024
VMSNAP = "one-img-9-7-0-ONESNAP-2-1736100000"


def action(stack, path: str, image_id: int = 5, **image) -> bytes:
    xml = stack.b.image_xml(image_id, source="", path=path, state=4, size=8, **image)
    stack.oned.put("image", xml)
    return stack.ds_action(image_xml=xml)


def snapshot_with_data(stack, volume: str, snapshot: str, data: bytes, tags=None) -> None:
    stack.sp.volume_create(volume, size=8 * MIB, template="one-ds-100", tags={"virt": "one", "nloc": "one"})
    stack.write_volume(volume, data)
    stack.sp.volume_snapshot(volume, snapshot, tags=tags)


def test_spsnapshot_for_the_oneadmin_group(stack):
    snapshot_with_data(stack, "handmade", "handmade-golden", b"golden data")
    stack.ctl.reset_calls()
    r = stack.ds("cp", "5", stdin=action(stack, "SPSNAPSHOT:handmade-golden"))
    assert r.ok, r
    assert r.stdout == "one-ds-100/one-img-5 raw\n"
    assert stack.ctl.counts() == {"Volume": 1, "Snapshot": 1, "VolumeCreate": 1}
    volume = stack.volume("one-img-5")
    assert (volume["parentName"], volume["templateName"]) == ("handmade-golden", "one-ds-100")
    assert volume["tags"] == {"virt": "one", "nloc": "one"}
    assert stack.read_volume("one-img-5", 11) == b"golden data"
    stat = stack.ds("stat", "0", stdin=stack.ds_action(image_path="SPSNAPSHOT:handmade-golden"))
    assert stat.ok and stat.stdout == "8\n"


def test_spsnapshot_refusals(stack):
    snapshot_with_data(stack, "handmade", "handmade-golden", b"x")
    snapshot_with_data(stack, "xone-img-3", "xone-img-3-snap0", b"x", tags={"virt": "one", "nloc": "xone"})
    cases = [
        (action(stack, "SPSNAPSHOT:handmade-golden", gid=1),
         "ds cp: not allowed: only images of the oneadmin group may be made from SPSNAPSHOT:, image 5 is in group 1"),
        (action(stack, "SPSNAPSHOT:xone-img-3-snap0"),
         "ds cp: look up snapshot xone-img-3-snap0: not allowed: snapshot xone-img-3-snap0 belongs to another "
         "OpenNebula instance (nloc=xone)"),
        (action(stack, "SPSNAPSHOT:../etc"),
         "ds cp: bad input: invalid StorPool snapshot name '../etc' in SPSNAPSHOT:"),
        (action(stack, "SPSNAPSHOT:nothing-here"), "ds cp: look up snapshot nothing-here: not found:"),
    ]
    for stdin, expected in cases:
        r = stack.ds("cp", "5", stdin=stdin)
        assert r.code != 0 and len(r.error_lines) == 1, r
        assert r.error_lines[0].startswith(expected)
    assert "one-img-5" not in stack.volume_names()


def put_vm_with_snapshot(stack) -> None:
    stack.put_vm(7, uid=3, gid=1, disks=[stack.b.image_disk(0, 9)],
                 vm_snapshots=[stack.b.vm_snapshot(2, "ONESNAP-2-1736100000")])
    snapshot_with_data(stack, "one-img-9-7-0", VMSNAP, b"vm snapshot data")


def test_vmsnap_of_the_vm_owner(stack):
    put_vm_with_snapshot(stack)
    stack.ctl.reset_calls()
    r = stack.ds("cp", "5", stdin=action(stack, "VM:7-DISK:0-VMSNAP:2", uid=3, gid=1))
    assert r.ok, r
    assert stack.ctl.counts() == {"Volume": 1, "VolumeCreate": 1}
    assert stack.volume("one-img-5")["parentName"] == VMSNAP
    assert stack.read_volume("one-img-5", 16) == b"vm snapshot data"
    stat = stack.ds("stat", "0", stdin=stack.ds_action(image_path="VM:7-DISK:0-VMSNAP:2"))
    assert stat.ok and stat.stdout == "8\n"


def test_vmsnap_refusals(stack):
    put_vm_with_snapshot(stack)
    cases = [
        (action(stack, "VM:7-DISK:0-VMSNAP:2", uid=4, gid=1),
         "ds cp: find snapshot 2 of VM 7: not allowed: image 5 belongs to user 4, who does not own VM 7"),
        (action(stack, "VM:7-DISK:0-VMSNAP:3", uid=3, gid=1),
         "ds cp: find snapshot 3 of VM 7: not found: VM 7 has no snapshot 3"),
        (action(stack, "VM:7-DISK:0-VMSNAP:2x", uid=3, gid=1),
         "ds cp: bad input: invalid snapshot source 'VM:7-DISK:0-VMSNAP:2x'"),
    ]
    for stdin, expected in cases:
        r = stack.ds("cp", "5", stdin=stdin)
        assert r.code != 0 and len(r.error_lines) == 1, r
        assert r.error_lines[0].startswith(expected)
    assert "one-img-5" not in stack.volume_names()

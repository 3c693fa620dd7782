"""Per-disk limits in StorPool (SP_DISK_LIMITS): a VM disk's TOTAL_IOPS_SEC / TOTAL_BYTES_SEC are
its volume's iops / bw from the create on, through resize, live migration and VM snapshot
revert; save-as and give-back leave them behind; what StorPool cannot express is one line."""

import base64

import pytest

MIB = 1024 * 1024
KIB = 1024
FAKE_VIRSH = "#!/bin/sh\nexit 0\n"  # revert destroys the domain; nothing else is asked of virsh


def limits_of(stack, name):
    volume = stack.volume(name)
    return volume["iops"], volume["bw"], volume["limitType"]


def opt_in(stack, image=True, system=True):
    if image:
        stack.put_datastore(100, kind="IMAGE", template={"SP_DISK_LIMITS": "YES"})
    if system:
        stack.put_datastore(101, kind="SYSTEM", template={"SP_DISK_LIMITS": "YES"})


def vm_disks(stack, extra0=None, extra1=None, extra2=None):
    b = stack.b
    return [b.image_disk(0, 5, size=16, extra=extra0 if extra0 is not None else
                         {"TOTAL_IOPS_SEC": "500", "TOTAL_BYTES_SEC": str(10 * MIB)}),
            b.image_disk(1, 6, persistent=True, size=16, extra=extra1 if extra1 is not None else
                         {"TOTAL_IOPS_SEC": "300"}),
            b.volatile_disk(2, 16, extra=extra2 if extra2 is not None else {"TOTAL_BYTES_SEC": str(4 * MIB)})]


def deploy(stack, host="node1"):
    for line in (("clone", "fe:one-ds-100/one-img-5", stack.disk_path(host, 7, 0), "7", "100"),
                 ("ln", "fe:one-ds-100/one-img-6", stack.disk_path(host, 7, 1), "7", "100"),
                 ("mkimage", "16", "raw", stack.disk_path(host, 7, 2), "7", "101")):
        stack.ctl.reset_calls()
        r = stack.tm(*line)
        assert r.ok, (line, r)
        counts = stack.ctl.counts()
        if line[0] != "ln":  # one VolumeCreate carries the limits, no update after it
            assert counts.get("VolumeCreate") == 1 and "VolumeUpdate" not in counts, (line, counts)
        else:  # the persistent volume gets them with its tags, in one update
            assert counts.get("VolumeUpdate") == 1, counts


def test_limits_are_set_on_create_and_kept_through_resize_migration_and_revert(stack, tmp_path):
    opt_in(stack)
    stack.put_image(5, data=b"os image")
    stack.put_image(6, persistent=True, data=b"database")
    stack.put_vm(7, disks=vm_disks(stack), context=False)
    deploy(stack)
    assert limits_of(stack, "one-img-5-7-0") == (500, 10 * MIB // KIB, "total")
    assert limits_of(stack, "one-img-6") == (300, "-", "total")
    assert limits_of(stack, "one-sys-7-2-raw") == ("-", 4 * MIB // KIB, "total")

    stack.ctl.reset_calls()
    r = stack.tm("resize", stack.disk_path("node1", 7, 0), "64", "7", "100")
    assert r.ok, r
    assert stack.ctl.counts().get("VolumeUpdate") == 1
    assert stack.volume("one-img-5-7-0")["size"] == 64 * MIB
    assert limits_of(stack, "one-img-5-7-0") == (500, 10 * KIB, "total")

    # live migration node1 -> node2
    doc = base64.b64encode(stack.put_vm(7, disks=vm_disks(stack), context=False, lcm_state=4, history=(
        stack.b.history("node1", hid=1), stack.b.history("node2", hid=2))).encode())
    for action in ("premigrate", "postmigrate"):
        r = stack.tm(action, "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", stdin=doc)
        assert r.ok, (action, r)
    assert stack.clients_of("one-img-6") == {2: "rw"}
    assert limits_of(stack, "one-img-5-7-0") == (500, 10 * KIB, "total")
    assert limits_of(stack, "one-img-6") == (300, "-", "total")

    # VM snapshot, then revert to it (VolumeRevert in place)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "virsh").write_text(FAKE_VIRSH)
    (bin_dir / "virsh").chmod(0o755)
    env = {"PATH": "%s:%s" % (bin_dir, stack.env["PATH"])}
    history = (stack.b.history("node1", hid=1), stack.b.history("node2", hid=2))

    def vmm(action, arg, snapshot):
        vm_xml = stack.put_vm(7, disks=vm_disks(stack), context=False, history=history,
                              vm_snapshots=[stack.b.vm_snapshot(0, snapshot, time=1736200000, active=True)])
        xml = stack.b.vmm_driver_action_xml(vm_xml, host="node2", datastore=stack.system_ds_xml)
        return stack.vmm(action, "one-7", arg, "7", "node2", stdin=base64.b64encode(xml.encode()), env=env)

    r = vmm("snapshot_create-storpool", "0", "")
    assert r.ok, r
    snapshot = r.stdout.strip()
    r = vmm("snapshot_revert-storpool", snapshot, snapshot)
    assert r.ok, r
    assert stack.ctl.counts().get("VolumeRevert", 0) >= 3
    assert limits_of(stack, "one-img-5-7-0") == (500, 10 * KIB, "total")
    assert limits_of(stack, "one-img-6") == (300, "-", "total")
    assert limits_of(stack, "one-sys-7-2-raw") == ("-", 4 * KIB, "total")


def test_save_as_and_give_back_leave_the_disks_limits_behind(stack):
    opt_in(stack, system=False)  # the system datastore does not opt in: its volatile disk is left alone
    stack.put_image(5, data=b"os image")
    stack.put_image(6, persistent=True, data=b"database")
    stack.put_vm(7, disks=vm_disks(stack, extra2={"TOTAL_BYTES_SEC": str(4 * MIB), "READ_IOPS_SEC": "10"}),
                 context=False)
    deploy(stack)
    assert limits_of(stack, "one-sys-7-2-raw")[:2] == ("-", "-")
    stack.put_image(12, create_volume=False)
    r = stack.tm("cpds", stack.disk_path("node1", 7, 0), "one-ds-100/one-img-12", "-1", "7", "100")
    assert r.ok, r
    assert limits_of(stack, "one-img-12") == ("-", "-", "total")  # the copy is an image, not this disk
    assert limits_of(stack, "one-img-5-7-0") == (500, 10 * KIB, "total")
    r = stack.tm("mvds", stack.disk_path("node1", 7, 1), "one-ds-100/one-img-6", "7", "100")
    assert r.ok, r
    assert limits_of(stack, "one-img-6") == ("-", "-", "total")
    assert stack.read_volume("one-img-6", 8) == b"database"


@pytest.mark.parametrize("extra, message", [
    ({"READ_IOPS_SEC": "100"}, "READ_IOPS_SEC has no StorPool form"),
    ({"WRITE_BYTES_SEC": str(MIB)}, "WRITE_BYTES_SEC has no StorPool form"),
    ({"TOTAL_IOPS_SEC": "500", "TOTAL_IOPS_SEC_MAX": "1000"}, "TOTAL_IOPS_SEC_MAX has no StorPool form"),
    ({"TOTAL_BYTES_SEC": "1000"}, "TOTAL_BYTES_SEC 1000 is not a whole number of KiB/s"),
    ({"TOTAL_IOPS_SEC": "12.5"}, "TOTAL_IOPS_SEC '12.5' is not a whole non-negative number"),
    ({"TOTAL_IOPS_SEC": "-5"}, "TOTAL_IOPS_SEC '-5' is not a whole non-negative number"),
    ({"TOTAL_IOPS_SEC": str(2 ** 64)}, "TOTAL_IOPS_SEC %d is out of range" % 2 ** 64),
])
def test_what_storpool_cannot_express_is_one_line_before_any_change(stack, extra, message):
    opt_in(stack)
    stack.put_image(5)
    stack.put_image(6, persistent=True)
    stack.put_vm(7, disks=vm_disks(stack, extra0=extra, extra1=extra, extra2=extra), context=False)
    before = stack.state()
    for action, line in (("clone", ("fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100")),
                         ("ln", ("fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 1), "7", "100")),
                         ("mkimage", ("16", "raw", stack.disk_path("node1", 7, 2), "7", "101"))):
        r = stack.tm(action, *line)
        assert r.code != 0, (action, r)
        assert len(r.error_lines) == 1 and message in r.error_lines[0], (action, r.stderr)
        assert r.error_lines[0].startswith("tm %s: unsupported: disk " % action), r.error_lines
        assert "Traceback" not in r.stderr
    assert stack.state() == before
    assert not (stack.ds_location / "101" / "7").exists() or not any((stack.ds_location / "101" / "7").iterdir())

"""tm mkimage and mkswap, run as oned runs them: volatile disks on the StorPool system datastore."""

import os

MIB = 1024 * 1024


def _mkimage(stack, disk=0, size=16, fmt="raw", vm=7, **kwargs):
    return stack.tm("mkimage", str(size), fmt, stack.disk_path("node1", vm, disk), str(vm), "101", **kwargs)


def _mkswap(stack, disk=0, size=16, vm=7, **kwargs):
    return stack.tm("mkswap", str(size), stack.disk_path("node1", vm, disk), str(vm), "101", **kwargs)


def test_mkimage_blank_volatile_disk(stack):
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16)], user_template={"SP_QOSCLASS": "tier2"})
    stack.ctl.reset_calls()
    r = _mkimage(stack)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert counts == {"VolumeCreate": 1, "VolumesReassignWait": 1}, counts
    vol = stack.volume("one-sys-7-0-raw")
    assert vol["size"] == 16 * MIB and vol["templateName"] == "one-ds-101"
    assert vol["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0", "type": "VOL", "qc": "tier2"}
    assert stack.clients_of("one-sys-7-0-raw") == {1: "rw"}
    assert os.readlink(stack.local_disk(7, 0)) == str(stack.dev_dir / "one-sys-7-0-raw")


def test_mkimage_formats_the_file_system_once(stack):
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16, fs="ext4")])
    r = _mkimage(stack)
    assert r.ok, r
    assert stack.read_volume("one-sys-7-0-raw", 2, offset=1080) == b"\x53\xef"  # ext superblock magic
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.seek(8 * MIB)
        dev.write(b"guest data")
    before = stack.state()
    again = _mkimage(stack)
    assert again.ok, again
    assert stack.state() == before
    assert stack.read_volume("one-sys-7-0-raw", 10, offset=8 * MIB) == b"guest data"


def test_mkswap_writes_a_labelled_swap_area(stack):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5), stack.b.volatile_disk(1, 16, kind="swap")])
    r = _mkswap(stack, disk=1)
    assert r.ok, r
    vol = stack.volume("one-sys-7-1-swap")
    assert vol["tags"]["type"] == "VOL" and vol["tags"]["diskid"] == "1"
    page = stack.read_volume("one-sys-7-1-swap", 4096)
    assert page[-10:] == b"SWAPSPACE2"
    assert b"swap\x00" in page[1024:1100]  # the label


def test_readonly_volatile_disk_ends_attached_readonly_after_formatting(stack):
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16, fs="ext4", extra={"READONLY": "YES"})])
    r = _mkimage(stack, env={"ONESP_READONLY_MODE": "ro"})
    assert r.ok, r
    assert stack.volume("one-sys-7-0-raw")["tags"]["type"] == "VOLRO"
    assert stack.clients_of("one-sys-7-0-raw") == {1: "ro"}


def test_a_failed_format_rolls_everything_back(stack, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "mkswap").write_text("#!/bin/sh\necho 'mkswap: cannot open device' >&2\nexit 1\n")
    (fake / "mkswap").chmod(0o755)
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16, kind="swap")])
    before = stack.state()
    r = _mkswap(stack, env={"ONESP_MKSWAP": str(fake / "mkswap")})
    assert r.code != 0
    assert r.error_lines[0].startswith("tm mkswap: %s one-sys-7-0-swap on node1: host command failed:" % (fake / "mkswap"))
    assert "mkswap: cannot open device" in r.error_lines[0]
    assert stack.state() == before
    assert not stack.local_disk(7, 0).exists()


def test_mkimage_refusals(stack):
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16, fs="ntfs"), stack.b.volatile_disk(1, 16, kind="swap"),
                           stack.b.volatile_disk(2, 16, format="qcow2"), stack.b.image_disk(3, 5)])
    before = stack.state()
    r = _mkimage(stack, disk=0)
    assert r.error_lines == ["tm mkimage: unsupported: disk 0: file system 'ntfs' is not one of "
                             "btrfs, ext2, ext3, ext4, vfat, xfs"]
    r = _mkimage(stack, disk=1)
    assert r.error_lines == ["tm mkimage: bad input: disk 1 of VM 7 is a swap disk: oned makes it with mkswap"]
    r = _mkimage(stack, disk=2)
    assert r.error_lines == ["tm mkimage: unsupported: disk 2 of VM 7 has FORMAT qcow2; volatile disks on StorPool are raw"]
    r = _mkimage(stack, disk=0, fmt="qcow2")
    assert r.code != 0 and "format qcow2 is not supported" in r.error_lines[0]
    r = _mkswap(stack, disk=3)
    assert r.error_lines == ["tm mkswap: bad input: disk 3 of VM 7 is not a volatile disk"]
    assert stack.state() == before


def test_mkimage_each_failing_call_leaves_the_state_as_before(stack):
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16, fs="ext4")])
    for call, when in (("VolumeCreate", "before"), ("VolumesReassignWait", "before"),
                       ("VolumesReassignWait", "after")):
        before = stack.state()
        stack.ctl.inject_fault(call, error="invalidParam", when=when, descr="injected")
        r = _mkimage(stack)
        stack.ctl.clear_faults()
        assert r.code != 0 and len(r.error_lines) == 1 and "injected" in r.error_lines[0], (call, when, r)
        assert stack.state() == before, (call, when)

"""tm prebackup / postbackup (and the _live variants), run as oned runs them, with the VM document on stdin."""

import base64
import json
import shutil
import subprocess
import sys

import pytest

MIB = 1024 * 1024
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
VOL0 = "one-img-5-7-0"
VOL1 = "one-sys-7-1-raw"


@pytest.fixture
def vm(stack):
    """VM 7 on node1: disk 0 a clone of image 5, disk 1 a volatile disk; returns its document."""
    stack.put_image(5, data=b"boot")
    disks = [stack.b.image_disk(0, 5, size=16), stack.b.volatile_disk(1, 8)]
    xml = stack.put_vm(7, disks=disks, deploy_id="one-7")
    assert stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100").ok
    r = stack.tm("mkimage", "8", "raw", stack.disk_path("node1", 7, 1), "7", "101")
    assert r.ok, r
    _write(stack, 0, b"disk zero at backup time", 3 * MIB)
    _write(stack, 1, b"disk one at backup time", 5 * MIB)
    return xml


def _write(stack, disk, data, offset=0):
    with open(stack.local_disk(7, disk), "r+b") as dev:
        dev.seek(offset)
        dev.write(data)


def _line(stack, action, xml, disks="0:1", job=True, env=None):
    argv = [stack.vm_dir("node1", 7), disks, "one-7"] + (["-"] if job else []) + ["7", "101"]
    return stack.tm(action, *argv, stdin=xml.encode(), env=env)


def _backup_dir(stack):
    return stack.ds_location / "101" / "7" / "backup"


def _backup_snapshots(stack):
    return [s for s in stack.snapshot_names() if "-ONEBACKUP-" in s]


def _qemu_img(*argv):
    return subprocess.run(["qemu-img", *argv], capture_output=True, text=True, check=False)


def test_prebackup_writes_qcow2_copies_of_the_snapshots_and_postbackup_leaves_nothing(stack, vm, tmp_path):
    before = stack.state()
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    r = _line(stack, "prebackup", vm)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumesGroupSnapshot": 1, "VolumesReassignWait": 2}
    assert stack.oned.call_log().counts == {"one.datastore.info": 1, "one.host.info": 1}
    snaps = _backup_snapshots(stack)
    assert len(snaps) == 2
    stamp = snaps[0].rsplit("-", 1)[1]
    assert snaps == ["%s-ONEBACKUP-%s" % (VOL0, stamp), "%s-ONEBACKUP-%s" % (VOL1, stamp)]
    for snap in snaps:
        assert stack.sp.snapshot(snap)["tags"] == {"virt": "one", "nloc": "one", "nvm": "7"}
        assert stack.attachments(snap) == []
    # the guest goes on writing; the backup holds the state of the snapshot
    _write(stack, 0, b"written after the backup", 3 * MIB)
    backup = _backup_dir(stack)
    assert sorted(p.name for p in backup.iterdir()) == [".storpool_snapshots", "disk.0.0", "disk.1.0", "vm.xml"]
    for disk_id, volume, size in ((0, VOL0, 16), (1, VOL1, 8)):
        image = backup / ("disk.%d.0" % disk_id)
        info = json.loads(_qemu_img("info", "--output=json", str(image)).stdout)
        assert info["format"] == "qcow2" and info["virtual-size"] == size * MIB
        raw = tmp_path / ("snap%d.raw" % disk_id)
        raw.write_bytes(stack.read_volume("%s-ONEBACKUP-%s" % (volume, stamp), size * MIB, snapshot=True))
        compare = _qemu_img("compare", "-f", "qcow2", "-F", "raw", str(image), str(raw))
        assert compare.returncode == 0, compare.stdout + compare.stderr
    restored = tmp_path / "disk0.raw"
    assert _qemu_img("convert", "-f", "qcow2", "-O", "raw", str(backup / "disk.0.0"), str(restored)).returncode == 0
    with open(restored, "rb") as f:
        assert f.read(4) == b"boot"
        f.seek(3 * MIB)
        assert f.read(24) == b"disk zero at backup time"
    assert base64.b64decode((backup / "vm.xml").read_text()) == vm.encode()
    assert all(len(line) <= 60 for line in (backup / "vm.xml").read_text().splitlines())

    stack.ctl.reset_calls()
    r = _line(stack, "postbackup", vm)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumesReassignWait": 2, "SnapshotDelete": 2}
    assert _backup_snapshots(stack) == []
    assert not backup.exists()
    assert stack.clients_of(VOL0) == {1: "rw"} and stack.clients_of(VOL1) == {1: "rw"}
    after = stack.state()
    assert after["snapshots"] == before["snapshots"] and after["attachments"] == before["attachments"]
    again = _line(stack, "postbackup", vm)
    assert again.ok, again


def test_five_argument_form_and_the_live_variants(stack, vm):
    r = _line(stack, "prebackup_live", vm, disks="0", job=False)
    assert r.ok, r
    assert sorted(p.name for p in _backup_dir(stack).iterdir()) == [".storpool_snapshots", "disk.0.0", "vm.xml"]
    assert [s.rsplit("-", 2)[0] for s in _backup_snapshots(stack)] == [VOL0]
    r = _line(stack, "postbackup_live", vm, disks="0", job=False)
    assert r.ok, r
    assert _backup_snapshots(stack) == [] and not _backup_dir(stack).exists()


FAKE_VIRSH = "#!%s\nimport os, sys\nopen(os.environ['FAKE_VIRSH_LOG'], 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"


def test_live_backup_freezes_the_guest_with_fs_freeze_agent(stack, vm, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "virsh").write_text(FAKE_VIRSH % sys.executable)
    (bindir / "virsh").chmod(0o755)
    log = tmp_path / "virsh.log"
    env = {"PATH": "%s:%s" % (bindir, stack.env["PATH"]), "FAKE_VIRSH_LOG": str(log)}
    disks = [stack.b.image_disk(0, 5, size=16), stack.b.volatile_disk(1, 8)]
    agent = stack.put_vm(7, disks=disks, deploy_id="one-7", backup_config={"FS_FREEZE": "AGENT", "MODE": "FULL"})
    assert _line(stack, "prebackup", agent, env=env).ok  # not live: no freeze
    assert not log.exists()
    stack.ctl.inject_fault("VolumesGroupSnapshot", error="busy", descr="injected")
    r = _line(stack, "prebackup_live", agent, env=env)
    assert r.code != 0 and r.error_lines[0].endswith("busy: injected")
    assert log.read_text().splitlines() == ["--connect qemu:///system domfsfreeze one-7",
                                            "--connect qemu:///system domfsthaw one-7"]
    assert _backup_snapshots(stack) == [] and not _backup_dir(stack).exists()  # the earlier run's are cleaned too


def _fails_and_changes_nothing(stack, vm, env=None, call=None, when="before"):
    before = stack.state()
    if call:
        stack.ctl.inject_fault(call, error="busy", when=when, descr="injected")
    r = _line(stack, "prebackup", vm, env=env)
    assert r.code != 0
    assert len(r.error_lines) == 1 and r.error_lines == [r.stderr.splitlines()[0]] and "Traceback" not in r.stderr
    stack.ctl.clear_faults()
    assert stack.state() == before
    assert not _backup_dir(stack).exists()
    return r


@pytest.mark.parametrize("call,when", [("VolumesGroupSnapshot", "before"), ("VolumesGroupSnapshot", "after"),
                                       ("VolumesReassignWait", "before"), ("VolumesReassignWait", "after")])
def test_a_failing_storpool_call_is_rolled_back(stack, vm, call, when):
    r = _fails_and_changes_nothing(stack, vm, call=call, when=when)
    assert "injected" in r.error_lines[0]


def test_a_failing_copy_is_rolled_back_with_one_line(stack, vm):
    r = _fails_and_changes_nothing(stack, vm, env={"ONESP_QEMU_IMG": "false"})
    assert r.error_lines[0].startswith("tm prebackup: copy %s-ONEBACKUP-" % VOL0)
    assert "host command failed: qemu-img convert" in r.error_lines[0]


def test_leftovers_of_a_failed_run_are_removed_by_the_next_one(stack, vm):
    stack.ctl.inject_fault("SnapshotDelete", error="busy", count=1, descr="cannot delete now")
    r = _line(stack, "prebackup", vm, env={"ONESP_QEMU_IMG": "false"})
    assert r.code != 0 and "could not undo" in r.stderr
    leftovers = _backup_snapshots(stack)
    assert len(leftovers) == 1  # the other one was deleted
    leftover_id = stack.sp.snapshot(leftovers[0])["globalId"]
    assert (_backup_dir(stack) / ".storpool_snapshots").exists()  # the record stays with them
    r = _line(stack, "prebackup", vm)
    assert r.ok, r
    now = _backup_snapshots(stack)
    assert len(now) == 2
    assert leftover_id not in [stack.sp.snapshot(s)["globalId"] for s in stack.snapshot_names()]
    assert _line(stack, "postbackup", vm).ok
    assert _backup_snapshots(stack) == []


def test_a_record_naming_anything_else_deletes_nothing_of_it(stack, vm):
    stack.sp.volume_snapshot(VOL0, "one-img-5-7-0-snap0")
    backup = _backup_dir(stack)
    backup.mkdir(parents=True)
    (backup / ".storpool_snapshots").write_text(json.dumps(
        {"vm": 7, "timestamp": 1700000000, "snapshots": ["one-img-5-7-0-snap0", "one-img-5", "one-img-5-7-0-ONEBACKUP-1"]}))
    before = stack.state()
    r = _line(stack, "postbackup", vm)
    assert r.ok, r
    assert stack.state() == before
    assert not backup.exists()
    assert "left alone" in stack.log_text()


def test_refusals(stack, vm):
    disks = [stack.b.image_disk(0, 5, size=16), stack.b.volatile_disk(1, 8)]
    increment = stack.put_vm(7, disks=disks, backup_config={"MODE": "INCREMENT"})
    r = _fails_and_changes_nothing(stack, increment)
    assert r.error_lines == ["tm prebackup: unsupported: INCREMENT backups are not supported on StorPool, only FULL "
                             "(VM 7 BACKUP_CONFIG/MODE)"]
    other = stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16, tm_mad="ceph"), stack.b.volatile_disk(1, 8)])
    r = _fails_and_changes_nothing(stack, other)
    assert r.error_lines == ["tm prebackup: unsupported: disk 0 of VM 7 is not on StorPool (TM_MAD ceph); "
                             "it cannot be backed up here"]
    r = stack.tm("prebackup", stack.vm_dir("node1", 7), "0", "one-7", "-", "8", "101", stdin=vm.encode())
    assert r.code != 0 and r.error_lines == ["tm prebackup: bad input: the VM document on stdin is VM 7, "
                                             "the line names VM 8"]
    r = stack.tm("prebackup", stack.vm_dir("node1", 7), "0", "one-7", "-", "7", "101")
    assert r.code != 0 and r.error_lines == ["tm prebackup: decode the VM document: bad input: "
                                             "the VM document is missing on stdin"]

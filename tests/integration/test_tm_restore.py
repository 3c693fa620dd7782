"""tm restore, run as oned runs it, against a stand-in backup datastore driver.

The remotes tree of a front-end is built in a temporary directory: ``tm/storpool/restore``
(a link to our executable), ``datastore/fakebk/ls`` (prints where the backup of each disk
is and keeps what it received) and ``datastore/downloader.sh`` (writes such a file to
stdout). The backup itself is made by our own prebackup, as the backup datastore would
have stored it.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from fixtures.backup_store import fake_backup_remotes

from onesp.sim.stack import Result

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
MIB = 1024 * 1024
VOL0 = "one-img-5-7-0"
VOL1 = "one-sys-7-1-raw"

LS = textwrap.dedent('''\
    #!{python}
    import json, os, sys
    store = {store!r}
    with open(os.path.join(store, "ls.input"), "w") as f:
        json.dump({{"argv": sys.argv[1:], "stdin": sys.stdin.read()}}, f)
    print(json.dumps({{name.split(".")[1]: "fake://" + os.path.join(store, name)
                      for name in sorted(os.listdir(store)) if name.startswith("disk.")}}))
''')
@pytest.fixture
def backed_up(stack, tmp_path):
    """VM 7 (disk 0 from image 5, 16 MB; volatile disk 1, 8 MB) backed up, then changed and disk 0 grown."""
    stack.put_image(5, data=b"boot")
    disks = [stack.b.image_disk(0, 5, size=16), stack.b.volatile_disk(1, 8)]
    xml = stack.put_vm(7, disks=disks, deploy_id="one-7")
    assert stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100").ok
    assert stack.tm("mkimage", "8", "raw", stack.disk_path("node1", 7, 1), "7", "101").ok
    _write(stack, 0, b"zero as backed up", 2 * MIB)
    _write(stack, 1, b"one as backed up", 7 * MIB)
    line = [stack.vm_dir("node1", 7), "0:1", "one-7", "-", "7", "101"]
    assert stack.tm("prebackup", *line, stdin=xml.encode()).ok
    store = tmp_path / "backupstore"
    store.mkdir()
    for name in ("disk.0.0", "disk.1.0"):
        shutil.copy(stack.ds_location / "101" / "7" / "backup" / name, store / name)
    assert stack.tm("postbackup", *line, stdin=xml.encode()).ok

    remotes = fake_backup_remotes(stack, tmp_path, store, LS)

    # the VM goes on: disk 0 grown to 32 MB and both disks written
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=32), stack.b.volatile_disk(1, 8)], deploy_id="one-7")
    assert stack.tm("resize", stack.disk_path("node1", 7, 0), "32", "7", "100").ok
    _write(stack, 0, b"zero changed later", 2 * MIB)
    _write(stack, 0, b"beyond the backup", 20 * MIB)
    _write(stack, 1, b"one changed later", 7 * MIB)
    return stack, remotes, store


def _write(stack, disk, data, offset):
    with open(stack.local_disk(7, disk), "r+b") as dev:
        dev.seek(offset)
        dev.write(data)


def _read(stack, disk, length, offset):
    with open(stack.local_disk(7, disk), "rb") as dev:
        dev.seek(offset)
        return dev.read(length)


def _restore(stack, remotes, disk_id="-1", env=None):
    argv = [stack.vm_dir("node1", 7), "7", "200", "-1", disk_id]
    proc = subprocess.run([sys.executable, str(remotes / "tm" / "storpool" / "restore"), *argv], capture_output=True,
                          env=dict(stack.env, **(env or {})), timeout=120, check=False)
    return Result(["restore", *argv], proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def _identity(stack, name):
    vol = stack.volume(name)
    return {k: vol[k] for k in ("globalId", "tags", "templateName", "size")}


def _safety(stack):
    return [s for s in stack.snapshot_names() if "-tmRestore-" in s]


def test_restore_writes_every_disk_back_in_place(backed_up):
    stack, remotes, store = backed_up
    identity = {v: _identity(stack, v) for v in (VOL0, VOL1)}
    links = {d: os.readlink(stack.local_disk(7, d)) for d in (0, 1)}
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    r = _restore(stack, remotes)
    assert r.ok, r
    counts = stack.ctl.counts()
    assert counts == {"Volume": 2, "VolumeSnapshot": 2, "VolumeUpdate": 2, "SnapshotUpdate": 2}, counts
    assert _read(stack, 0, 17, 2 * MIB) == b"zero as backed up"
    assert _read(stack, 0, 4, 0) == b"boot"
    assert _read(stack, 0, 17, 20 * MIB) == b"\0" * 17  # beyond the backup's 16 MB: zeros, as it was then
    assert _read(stack, 1, 16, 7 * MIB) == b"one as backed up"
    assert {v: _identity(stack, v) for v in (VOL0, VOL1)} == identity  # 32 MB kept: the size oned records
    assert stack.clients_of(VOL0) == {1: "rw"} and stack.clients_of(VOL1) == {1: "rw"}
    assert {d: os.readlink(stack.local_disk(7, d)) for d in (0, 1)} == links
    assert not (stack.ds_location / "101" / "7" / "restore").exists()
    safety = _safety(stack)
    assert len(safety) == 2 and all(stack.sp.snapshot(s)["targetDeleteDate"] > 0 for s in safety)  # DELAY_DELETE
    received = json.loads((store / "ls.input").read_text())
    assert received["argv"] == ["-i", "-1"]
    assert received["stdin"].startswith("<DS_DRIVER_ACTION_DATA><DATASTORE><ID>102</ID>")
    assert "<VM><ID>7</ID>" in received["stdin"] and "<IMAGE><ID>200</ID>" in received["stdin"]
    assert stack.oned.call_log().counts == {"one.vm.info": 1, "one.image.info": 1, "one.datastore.info": 2,
                                            "one.host.info": 1}


def test_restore_of_one_disk_leaves_the_others(backed_up):
    stack, remotes, _ = backed_up
    r = _restore(stack, remotes, disk_id="1", env={"ONESP_DELAY_DELETE": ""})
    assert r.ok, r
    assert _read(stack, 1, 16, 7 * MIB) == b"one as backed up"
    assert _read(stack, 0, 18, 2 * MIB) == b"zero changed later"
    assert _safety(stack) == []  # no DELAY_DELETE: the data before the restore is dropped at once
    r = _restore(stack, remotes, disk_id="4")
    assert r.code != 0 and r.error_lines == ["tm restore: not found: backup image 200 holds no disk 4 of VM 7"]


def test_a_failed_download_touches_no_volume(backed_up):
    stack, remotes, _ = backed_up
    before = stack.ctl.state(with_bytes=True)
    r = _restore(stack, remotes, env={"FAKE_DOWNLOAD_FAIL": "disk.1.0"})
    assert r.code != 0
    assert r.error_lines == [r.stderr.splitlines()[0]]
    assert r.error_lines[0].startswith("tm restore: fetch the backup of disk 1 to ")
    assert r.error_lines[0].endswith("backend error: downloader.sh failed: cannot fetch fake://%s"
                                     % (remotes.parent / "backupstore" / "disk.1.0"))
    assert stack.ctl.state(with_bytes=True) == before
    assert not (stack.ds_location / "101" / "7" / "restore").exists()


def test_a_failure_on_the_second_disk_reverts_the_first(backed_up):
    stack, remotes, _ = backed_up
    before = stack.ctl.state(with_bytes=True)
    links = {d: os.readlink(stack.local_disk(7, d)) for d in (0, 1)}
    stack.ctl.inject_fault("VolumeSnapshot", error="busy", match=VOL1, when="after", descr="injected")
    r = _restore(stack, remotes)
    assert r.code != 0
    assert r.error_lines == ["tm restore: snapshot volume %s as %s-tmRestore-%s: busy: injected" % (
        VOL1, VOL1, r.error_lines[0].rsplit("-tmRestore-", 1)[1].split(":")[0])]
    assert _read(stack, 0, 18, 2 * MIB) == b"zero changed later"
    assert _read(stack, 0, 17, 20 * MIB) == b"beyond the backup"
    assert _safety(stack) == []
    assert stack.ctl.state(with_bytes=True) == before
    assert {d: os.readlink(stack.local_disk(7, d)) for d in (0, 1)} == links


def test_an_incremental_backup_file_is_refused(backed_up, tmp_path):
    stack, remotes, store = backed_up
    increment = tmp_path / "increment.qcow2"
    created = subprocess.run(["qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", str(store / "disk.0.0"),
                              str(increment)], capture_output=True, check=False)
    assert created.returncode == 0, created.stderr
    shutil.move(str(increment), str(store / "disk.0.0"))
    before = stack.ctl.state(with_bytes=True)
    r = _restore(stack, remotes)
    assert r.code != 0
    assert r.error_lines == ["tm restore: inspect the backup of disk 0: unsupported: the backup of disk 0 is an "
                             "increment (it has a backing file); only FULL backups are restored"]
    assert stack.ctl.state(with_bytes=True) == before


def test_a_backup_datastore_without_ls_is_one_clear_line(backed_up):
    stack, remotes, _ = backed_up
    os.unlink(remotes / "datastore" / "fakebk" / "ls")
    r = _restore(stack, remotes)
    assert r.code != 0
    assert r.error_lines == ["tm restore: not found: the backup datastore driver fakebk has no ls at %s"
                             % (remotes / "datastore" / "fakebk" / "ls")]

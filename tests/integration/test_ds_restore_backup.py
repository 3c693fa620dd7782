"""Restoring a backup into new StorPool images: ds stat and ds cp with PATH=rsync://..., as oned runs them.

The backup is laid out as OpenNebula's rsync backup driver lays it out: the VM's backup
directory (``vm.xml``, the base64 VM document, and ``disk.<disk>.<increment>``, a qcow2) is
copied with the real rsync program, over ssh to the test's own sshd, into
``<BASE_PATH>/<vm id>/<backup id>/`` on the "backup host". The image PATH is the one
``onebackup restore`` writes: ``rsync://<backup ds>/<backup job>/<increment>:<backup id>/<path of
the disk file>``. onesp hands it to OpenNebula's downloader, here a stand-in
(fixtures/one_downloader.py) that asks the oned stand-in for the backup datastore's
RSYNC_HOST and RSYNC_USER and streams the disk with ``ssh ... cat``, as OpenNebula's rsync
helper does for a full backup.
"""

from __future__ import annotations

import base64
import getpass
import gzip
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest
from fixtures.web import serve_directory
from lxml import etree
from security.test_real_ssh import SshServer, sshd  # noqa: F401 - the module's sshd fixture

from onesp.sim.oned import builders
from onesp.sim.stack import Invocation

MIB = 1024 * 1024
BACKUP_DS = 101
VM_ID = 42
BACKUP_ID = "8a3454"
STANDIN = Path(__file__).resolve().parents[1] / "fixtures" / "one_downloader.py"
pytestmark = [pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed"),
              pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")]


@pytest.fixture(scope="module")
def disk() -> bytes:
    """The VM disk that was backed up: 3 MiB and a bit (a 4 MiB image), some of it zeros."""
    return os.urandom(2 * MIB) + bytes(MIB) + b"last sector of the disk" * 45


@pytest.fixture
def downloader(tmp_path: Path) -> Path:
    """``<remotes>/datastore/downloader.sh``: runs the stand-in, passing argv on untouched."""
    path = tmp_path / "remotes" / "datastore" / "downloader.sh"
    path.parent.mkdir(parents=True)
    path.write_text('#!/bin/sh\nexec %s %s "$@"\n' % (shlex.quote(sys.executable), shlex.quote(str(STANDIN))))
    path.chmod(0o755)
    return path


@pytest.fixture
def env(tmp_path: Path, downloader: Path, sshd: SshServer) -> Dict[str, str]:  # noqa: F811
    staging = tmp_path / "staging"
    staging.mkdir()
    return {"ONESP_STAGING_DIR": str(staging), "ONESP_DOWNLOADER": str(downloader), "STANDIN_SSH": sshd.command}


def back_up(sshd: SshServer, tmp_path: Path, disk: bytes, base: Path) -> str:  # noqa: F811
    """Lay out a full backup of VM 42's disk 0 under ``base`` (the backup datastore's BASE_PATH), as
    the rsync driver does (mkdir over ssh, then ``rsync -aS <vm dir>/ <user>@<host>:<backup dir>/``);
    returns the path of ``disk.0.0`` on the backup host."""
    vm_dir = tmp_path / "vm-backup-dir"
    vm_dir.mkdir()
    (vm_dir / "disk.raw").write_bytes(disk)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(vm_dir / "disk.raw"),
                    str(vm_dir / "disk.0.0")], check=True)
    (vm_dir / "disk.raw").unlink()
    vm_xml = ("<VM><ID>%d</ID><TEMPLATE><DISK><DISK_ID>0</DISK_ID><SIZE>4</SIZE></DISK></TEMPLATE></VM>" % VM_ID)
    (vm_dir / "vm.xml").write_bytes(base64.b64encode(vm_xml.encode()) + b"\n")
    backup_dir = "%s/%d/%s" % (base, VM_ID, BACKUP_ID)
    target = "%s@127.0.0.1" % getpass.getuser()
    subprocess.run(sshd.command.split() + [target, "mkdir -p " + shlex.quote(backup_dir)], check=True, timeout=60)
    subprocess.run(["rsync", "-aS", "-e", sshd.command, str(vm_dir) + "/", "%s:%s/" % (target, backup_dir)],
                   check=True, timeout=120)
    shutil.rmtree(vm_dir)
    return backup_dir + "/disk.0.0"


def put_backup_datastore(stack, base: Path) -> None:
    """Backup datastore 101 (DS_MAD rsync) whose BASE_PATH is ``base`` on RSYNC_HOST 127.0.0.1."""
    xml = builders.datastore_xml(BACKUP_DS, name="backups", kind="FILE", ds_mad="rsync", tm_mad="-",
                                 template={"RSYNC_HOST": "127.0.0.1", "RSYNC_USER": getpass.getuser()},
                                 location=str(base.parent))
    root = etree.fromstring(xml.encode())
    root.find("TYPE").text = "3"
    root.find("TEMPLATE/TYPE").text = "BACKUP_DS"
    stack.oned.put("datastore", etree.tostring(root))


def restore_url(disk_path: str) -> str:
    """The PATH ``onebackup restore`` gives the image of disk 0 (no backup job, one increment)."""
    return "rsync://%d//0:%s/%s" % (BACKUP_DS, BACKUP_ID, disk_path)


def image_action(stack, path: str, **template: str) -> bytes:
    ds = stack.put_datastore(100, sp={"AUTH_TOKEN": stack.token})  # a datastore may carry the token
    xml = stack.b.image_xml(5, source="", path=path, state=4, size=4, template=template)
    stack.oned.put("image", xml)
    return stack.ds_action(ds, xml)


@pytest.fixture
def backup(stack, sshd, tmp_path, disk) -> Iterator[str]:  # noqa: F811
    base = tmp_path / "backup-host" / "datastores" / str(BACKUP_DS)
    path = back_up(sshd, tmp_path, disk, base)
    put_backup_datastore(stack, base)
    yield restore_url(path)


def test_restore_rsync_backup_stat_and_cp(stack, env, backup, disk, tmp_path):
    ds = stack.put_datastore(100)
    r = stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=backup), env=env)
    assert r.ok, r
    assert r.stdout == "4\n"  # the qcow2 header's virtual size, from the first MiB the downloader sent

    seen = tmp_path / "downloader-env"
    stdin = image_action(stack, backup, MD5=hashlib.md5(backup_file(backup).read_bytes()).hexdigest())
    r = stack.ds("cp", "5", stdin=stdin, env=dict(env, STANDIN_ENV=str(seen)))
    assert r.ok, r
    passed = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    given = etree.fromstring(base64.b64decode(passed["DRV_ACTION"]))  # the driver action, as the addon exported it
    assert given.findtext("IMAGE/PATH") == backup and given.findtext("DATASTORE/ID") == "100"
    assert stack.token not in seen.read_text() and stack.token not in base64.b64decode(passed["DRV_ACTION"]).decode()
    assert r.stdout == "one-ds-100/one-img-5 raw\n"
    assert stack.volume("one-img-5")["size"] == 4 * MIB
    assert stack.read_volume("one-img-5", 4 * MIB) == disk + bytes(4 * MIB - len(disk))
    assert stack.volume_names() == ["one-img-5"] and stack.attachments() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


def backup_file(url: str) -> Path:
    """The disk file on the backup host (this machine) that a restore URL names."""
    return Path("/" + url.split("/", 5)[5].lstrip("/"))


def test_wrong_md5_of_a_restored_backup_is_refused_and_leaves_nothing(stack, env, backup):
    r = stack.ds("cp", "5", stdin=image_action(stack, backup, MD5="0" * 32), env=env)
    assert r.code != 0 and len(r.error_lines) == 1, r
    assert r.error_lines[0].startswith("ds cp: check the checksums of rsync://")
    assert "bad input: MD5 of" in r.error_lines[0]
    assert stack.volume_names() == [] and os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_failing_downloader_gives_one_line_and_leaves_nothing(stack, env, backup):
    missing = backup.replace("disk.0.0", "disk.1.0")
    r = stack.ds("cp", "5", stdin=image_action(stack, missing), env=env)
    assert r.code != 0 and len(r.error_lines) == 1, r
    assert r.error_lines[0].startswith("ds cp: download %s with OpenNebula's downloader: backend error: %s exited "
                                       "with status 255: cat: " % (missing, env["ONESP_DOWNLOADER"]))
    assert r.error_lines[0].endswith("disk.1.0: No such file or directory")
    assert "Traceback" not in r.stderr
    assert stack.volume_names() == [] and stack.attachments() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []

    r = stack.ds("stat", "3", stdin=stack.ds_action(stack.put_datastore(100), image_path=missing), env=env)
    assert r.code != 0 and len(r.error_lines) == 1 and "No such file or directory" in r.error_lines[0], r

    r = stack.ds("cp", "5", stdin=image_action(stack, backup), env=dict(env, ONESP_DOWNLOADER="/nonexistent/dl.sh"))
    assert len(r.error_lines) == 1 and r.error_lines[0].endswith(
        "configuration error: OpenNebula's downloader /nonexistent/dl.sh is missing or not executable "
        "(set DOWNLOADER)"), r
    default = {key: value for key, value in env.items() if key != "ONESP_DOWNLOADER"}
    r = stack.ds("cp", "5", stdin=image_action(stack, backup), env=default)  # beside lib/ of the remotes tree
    remotes = Path(__file__).resolve().parents[2]
    assert r.error_lines[0].endswith("downloader %s is missing or not executable (set DOWNLOADER)"
                                     % (remotes / "datastore" / "downloader.sh")), r
    assert stack.volume_names() == []


def test_sigterm_during_the_download_ends_the_downloader_and_leaves_nothing(stack, env, backup, tmp_path):
    marker = tmp_path / "downloading"
    proc = subprocess.Popen(Invocation("ds", "cp", ("5",)).command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(stack.env, **env, STANDIN_HANG=str(marker)))
    proc.stdin.write(image_action(stack, backup))
    proc.stdin.close()
    proc.stdin = None
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143
    lines = err.decode().splitlines()
    assert lines[0].startswith("ds cp: download rsync://") and "interrupted: stopped by signal 15 (SIGTERM)" in lines[0]
    downloader_pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(downloader_pid, 0)
    assert stack.volume_names() == [] and os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_hostile_backup_path_reaches_the_downloader_as_one_argument(stack, sshd, env, tmp_path, disk):  # noqa: F811
    canary = tmp_path / "canary"
    hostile = "bk it's $(touch %s) `touch %s`; touch %s &" % (canary, canary, canary)
    base = tmp_path / hostile / "datastores" / str(BACKUP_DS)
    url = restore_url(back_up(sshd, tmp_path, disk, base))
    put_backup_datastore(stack, base)
    r = stack.ds("cp", "5", stdin=image_action(stack, url), env=env)
    assert r.ok, r
    assert stack.read_volume("one-img-5", len(disk)) == disk
    assert not canary.exists()


def test_rbd_format_backups_and_unknown_schemes_are_refused(stack, env):
    rbd_backup = "rsync+rbd://101//0:abc//var/lib/one/datastores/101/7/abc/disk.0.rbd2"
    r = stack.ds("cp", "5", stdin=image_action(stack, rbd_backup), env=env)
    assert r.error_lines == ["ds cp: unsupported: rsync+rbd:// is a backup in Ceph's RBD format, which only a Ceph "
                             "datastore can restore"], r
    r = stack.ds("stat", "3", stdin=stack.ds_action(stack.put_datastore(100), image_path="lxd://images/alpine"),
                 env=env)
    assert r.code != 0 and len(r.error_lines) == 1 and "cannot import from lxd://" in r.error_lines[0], r
    assert stack.volume_names() == []


def with_marketplace(action: bytes, endpoint: str) -> bytes:
    """The driver action with the MARKETPLACE of a private S3 marketplace at ``endpoint``."""
    root = etree.fromstring(base64.b64decode(action))
    market = etree.SubElement(etree.SubElement(root, "MARKETPLACE"), "TEMPLATE")
    for key, value in (("ACCESS_KEY_ID", "AKID"), ("SECRET_ACCESS_KEY", "secret"), ("ENDPOINT", endpoint)):
        etree.SubElement(market, key).text = value
    return base64.b64encode(etree.tostring(root))


def s3_cp(stack, env, bucket: Path, name: str, **datastore):
    """ds cp of image 5 from ``s3://<bucket>/<name>``, the bucket served by an S3 stand-in."""
    ds = stack.b.datastore_xml(100, location=str(stack.ds_location), **datastore)
    stack.oned.put("datastore", ds)
    xml = stack.b.image_xml(5, source="", path="s3://%s/%s" % (bucket.name, name), state=4, size=4)
    stack.oned.put("image", xml)
    with serve_directory(bucket.parent) as endpoint:
        return stack.ds("cp", "5", stdin=with_marketplace(stack.ds_action(ds, xml), endpoint), env=env)


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    path = tmp_path / "s3" / "apps"
    path.mkdir(parents=True)
    return path


def test_s3_marketplace_image_gets_the_driver_action(stack, env, bucket, disk):
    """An s3:// PATH of a private marketplace: the downloader reads the keys and endpoint from the
    MARKETPLACE in DRV_ACTION, which onesp passes on as the addon did."""
    (bucket / "disk.raw").write_bytes(disk)
    r = s3_cp(stack, env, bucket, "disk.raw")
    assert r.ok, r
    assert stack.read_volume("one-img-5", len(disk)) == disk


def test_downloader_output_is_bounded_by_the_datastores_free_space(stack, env, bucket, disk):
    """What the downloader sends, and what it decompresses into, may not pass FREE_MB, as for http(s)."""
    (bucket / "disk.raw").write_bytes(disk)  # 3 MiB and a bit
    r = s3_cp(stack, env, bucket, "disk.raw", free_mb=2)
    assert r.error_lines == ["ds cp: download s3://apps/disk.raw with OpenNebula's downloader: bad input: the "
                             "download of s3://apps/disk.raw is more than 2 MiB, the datastore's free space "
                             "(FREE_MB)"], r
    assert stack.volume_names() == [] and os.listdir(env["ONESP_STAGING_DIR"]) == []

    (bucket / "bomb.raw.gz").write_bytes(gzip.compress(bytes(16 * MIB), compresslevel=9) * 16)  # 256 MiB of zeros
    r = s3_cp(stack, env, bucket, "bomb.raw.gz", free_mb=64)
    assert r.error_lines == ["ds cp: download s3://apps/bomb.raw.gz with OpenNebula's downloader: bad input: "
                             "s3://apps/bomb.raw.gz once decompressed is more than 64 MiB, the datastore's free "
                             "space (FREE_MB)"], r
    assert stack.volume_names() == [] and os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_downloader_image_cut_short_is_refused_as_damaged(stack, env, bucket, disk, tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(disk)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(tmp_path / "disk.qcow2")],
                   check=True)
    whole = (tmp_path / "disk.qcow2").read_bytes()
    (bucket / "cut.qcow2").write_bytes(whole[:len(whole) // 2])
    r = s3_cp(stack, env, bucket, "cut.qcow2")
    assert len(r.error_lines) == 1 and r.error_lines == [r.stderr.strip()], r
    assert r.error_lines[0].startswith("ds cp: inspect s3://apps/cut.qcow2: bad input: s3://apps/cut.qcow2 is "
                                       "damaged"), r
    assert stack.volume_names() == [] and os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_downloader_stat_of_a_compressed_qcow2_decompresses_only_its_header(stack, env, bucket, tmp_path):
    """The first MiB of the qcow2 is one gzip member, the rest a member cut short: stat stops at the
    header, so it tells the size without reaching the damaged rest."""
    raw = tmp_path / "full.raw"
    raw.write_bytes(b"not zeros " * (16 * MIB // 10))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(tmp_path / "full.qcow2")],
                   check=True)
    image = (tmp_path / "full.qcow2").read_bytes()
    rest = gzip.compress(image[MIB:])
    (bucket / "full.qcow2.gz").write_bytes(gzip.compress(image[:MIB]) + rest[:len(rest) // 2])
    ds = stack.put_datastore(100)
    with serve_directory(bucket.parent) as endpoint:
        stdin = with_marketplace(stack.ds_action(ds, image_path="s3://apps/full.qcow2.gz"), endpoint)
        r = stack.ds("stat", "3", stdin=stdin, env=env)
    assert r.ok, r
    assert r.stdout == "16\n"
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_downloader_error_shows_no_password_of_the_url(stack, env):
    """The downloader quotes the PATH in its error; the one line onesp prints shows it without the password."""
    path = "ssh://backup:secret-pw@127.0.0.1/disks/disk.0"
    r = stack.ds("cp", "5", stdin=image_action(stack, path), env=env)
    assert r.error_lines == ["ds cp: download ssh://127.0.0.1/disks/disk.0 with OpenNebula's downloader: backend "
                             "error: %s exited with status 255: Cannot read from ssh://127.0.0.1/disks/disk.0"
                             % env["ONESP_DOWNLOADER"]], r
    assert "secret-pw" not in r.stdout + r.stderr + stack.log_text()
    assert stack.volume_names() == []

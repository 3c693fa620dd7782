"""The vTPM state and the UEFI NVRAM in backups: tm prebackup writes them beside the disks,
tm restore puts them back; run as oned runs them, against a stand-in backup datastore whose
``ls`` lists what OpenNebula's rsync driver lists (``disk.<n>`` and ``tpm``, nothing else).

VM 7 has a volatile disk 0 and a context disk 1, a TPM (``TPM/MODEL``) whose state OpenNebula's
kvm shutdown left in ``<vm dir>/tpm``, and its NVRAM on ``one-sys-7-NVRAM`` (tm context made it
and wrote the NVRAM file the domain uses).
"""

import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap

import pytest
from fixtures.backup_store import fake_backup_remotes

from onesp.sim.stack import Result

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
MIB = 1024 * 1024
NAME = "one-7"
NVRAM = "one-sys-7-NVRAM"
DISK0 = "one-sys-7-0-raw"
VARS = b"OVMF-VARS-TEMPLATE" + b"\0" * 4078
TPM_STATE = bytes(range(256)) * 40 + b"tpm state as backed up"
UUID = "4f1c2b3a-0d1e-4f5a-8b6c-7d8e9f0a1b2c"

LS = textwrap.dedent('''\
    #!{python}
    import json, os, re, sys
    store = {store!r}
    found = {{}}
    for name in sorted(os.listdir(store)):
        m = re.match(r"disk\\.([0-9]+|tpm)", name)
        if m:
            found[m.group(1)] = "fake://" + os.path.join(store, name)
    print(json.dumps(found))
''')
def vm_dir(stack):
    return stack.ds_location / "101" / "7"


def put(stack, tpm=True, nvram=True, lcm=3):
    b = stack.b
    user = {"T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"} if nvram else {}
    return stack.put_vm(7, name=NAME, disks=[b.volatile_disk(0, 16)], deploy_id=UUID, lcm_state=lcm,
                        tpm_model="tpm-crb" if tpm else None, user_template=user)


@pytest.fixture
def firmware_vm(stack, tmp_path):
    """VM 7 deployed on node1 with a TPM state directory and its NVRAM; returns its document."""
    ovmf = stack.root / "OVMF"
    ovmf.mkdir()
    (ovmf / "OVMF_VARS.fd").write_bytes(VARS)
    stack.env["ONESP_OVMF_PATH"] = str(ovmf)
    context_sh = tmp_path / "context.sh"
    context_sh.write_text("HOSTNAME='web'\n")
    put(stack, lcm=1)
    assert stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, 0), "7", "101").ok
    r = stack.tm("context", str(context_sh), stack.disk_path("node1", 7, 1), "7", "101")
    assert r.ok, r
    (vm_dir(stack) / "tpm").mkdir()
    (vm_dir(stack) / "tpm" / "tpm2-00.permall").write_bytes(TPM_STATE)
    guest_writes_nvram(stack, b"BOOT-ORDER-AT-BACKUP")
    write_disk(stack, b"disk zero at backup time", 3 * MIB)
    return put(stack)


def guest_writes_nvram(stack, data):
    with open(vm_dir(stack) / (NAME + "_VARS.fd"), "r+b") as f:
        f.write(data)


def write_disk(stack, data, offset):
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.seek(offset)
        dev.write(data)


def read_disk(stack, length, offset):
    with open(stack.local_disk(7, 0), "rb") as dev:
        dev.seek(offset)
        return dev.read(length)


def with_guest_bytes(text):
    return text + VARS[len(text):]


def backup_line(stack, action, xml, job=True):
    argv = [stack.vm_dir("node1", 7), "0", UUID] + (["-"] if job else []) + ["7", "101"]
    return stack.tm(action, *argv, stdin=xml.encode())


def backup_dir(stack):
    return vm_dir(stack) / "backup"


def tpm_archive_members(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {m.name: (archive.extractfile(m).read() if m.isfile() else None) for m in archive.getmembers()}


def test_prebackup_adds_the_vtpm_state_and_the_nvram_beside_the_disks(stack, firmware_vm):
    r = backup_line(stack, "prebackup", firmware_vm)
    assert r.ok, r
    names = sorted(p.name for p in backup_dir(stack).iterdir())
    assert names == [".storpool_snapshots", "disk.0.0", "disk.nvram.0", "disk.tpm.0", "vm.xml"]
    # disk.tpm.0 as OpenNebula 7 writes it: a gzip tar of the tpm directory of the VM directory
    assert tpm_archive_members((backup_dir(stack) / "disk.tpm.0").read_bytes()) == {
        "tpm": None, "tpm/tpm2-00.permall": TPM_STATE}
    assert (backup_dir(stack) / "disk.nvram.0").read_bytes() == with_guest_bytes(b"BOOT-ORDER-AT-BACKUP")
    assert backup_line(stack, "postbackup", firmware_vm).ok
    assert not backup_dir(stack).exists()


def test_a_live_backup_without_vtpm_setup_takes_the_saved_state_and_says_so(stack, firmware_vm):
    put(stack, lcm=3)
    r = backup_line(stack, "prebackup_live", firmware_vm)
    assert r.ok, r
    assert tpm_archive_members((backup_dir(stack) / "disk.tpm.0").read_bytes())["tpm/tpm2-00.permall"] == TPM_STATE
    assert "saved at the domain's last stop" in stack.log_file.read_text()


def test_a_tpm_directory_holding_a_link_fails_the_backup_and_leaves_nothing(stack, firmware_vm):
    os.symlink("/etc/shadow", vm_dir(stack) / "tpm" / "tpm2-00.permall.bak")
    r = backup_line(stack, "prebackup", firmware_vm)
    assert not r.ok
    assert "holds something other than directories and regular files" in r.stderr
    assert len(r.error_lines) == 1 and "Traceback" not in r.stderr
    assert not backup_dir(stack).exists()
    assert [s for s in stack.snapshot_names() if "-ONEBACKUP-" in s] == []


@pytest.fixture
def restorable(stack, firmware_vm, tmp_path):
    """The backup stored as a backup datastore keeps it; then the VM changes disk, NVRAM and TPM."""
    assert backup_line(stack, "prebackup", firmware_vm).ok
    store = tmp_path / "backupstore"
    store.mkdir()
    for name in ("disk.0.0", "disk.nvram.0", "disk.tpm.0", "vm.xml"):
        shutil.copy(backup_dir(stack) / name, store / name)
    assert backup_line(stack, "postbackup", firmware_vm).ok

    remotes = fake_backup_remotes(stack, tmp_path, store, LS)
    put(stack, lcm=3)

    # the VM goes on: the guest changes disk 0, its UEFI variables and its TPM; then it is
    # stopped, which saves the NVRAM into its volume as well
    write_disk(stack, b"disk zero changed later", 3 * MIB)
    guest_writes_nvram(stack, b"BOOT-ORDER-LATER")
    stack.sp.volume_update(NVRAM, size=8192)
    with open(stack.dev_dir / NVRAM, "r+b") as dev:
        dev.write(with_guest_bytes(b"BOOT-ORDER-LATER") + b"\0" * 4096)
    (vm_dir(stack) / "tpm" / "tpm2-00.permall").write_bytes(b"tpm state changed later")
    (vm_dir(stack) / "tpm" / "extra").write_bytes(b"a file swtpm made later")
    return stack, remotes, store


def restore(stack, remotes, disk_id="-1", env=None):
    argv = [stack.vm_dir("node1", 7), "7", "200", "-1", disk_id]
    proc = subprocess.run([sys.executable, str(remotes / "tm" / "storpool" / "restore"), *argv], capture_output=True,
                          env=dict(stack.env, **(env or {})), timeout=120, check=False)
    return Result(["restore", *argv], proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def tpm_files(stack):
    root = vm_dir(stack) / "tpm"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def nvram_state(stack):
    return ((vm_dir(stack) / (NAME + "_VARS.fd")).read_bytes(), stack.volume(NVRAM)["size"],
            stack.read_volume(NVRAM, stack.volume(NVRAM)["size"]))


def test_restore_brings_back_the_vtpm_state_and_the_nvram_byte_for_byte(restorable):
    stack, remotes, _ = restorable
    r = restore(stack, remotes)
    assert r.ok, r
    assert read_disk(stack, 24, 3 * MIB) == b"disk zero at backup time"
    assert tpm_files(stack) == {"tpm2-00.permall": TPM_STATE}
    backed_up = with_guest_bytes(b"BOOT-ORDER-AT-BACKUP")
    assert nvram_state(stack) == (backed_up, len(VARS), backed_up)
    assert sorted(p.name for p in vm_dir(stack).iterdir() if p.name.startswith(".") or p.name == "restore") == []
    # the NVRAM volume keeps its identity and attachment; its old data is kept like the disks'
    assert stack.clients_of(NVRAM) == {1: "rw"}
    assert sorted(s for s in stack.snapshot_names() if "-tmRestore-" in s)[0].startswith(DISK0 + "-tmRestore-")
    assert any(s.startswith(NVRAM + "-tmRestore-") for s in stack.snapshot_names())


def test_restore_of_another_disk_than_disk_0_leaves_the_firmware_state(restorable):
    stack, remotes, store = restorable
    before = (tpm_files(stack), nvram_state(stack))
    (store / "disk.0.0").rename(store / "disk.3.0")  # a backup holding only disk 3 (0 is absent)
    put_disk3 = stack.put_vm(7, name=NAME, disks=[stack.b.volatile_disk(3, 16)], deploy_id=UUID, lcm_state=3,
                             tpm_model="tpm-crb", user_template={"T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"})
    assert put_disk3
    assert stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, 3), "7", "101").ok
    r = restore(stack, remotes, disk_id="3")
    assert r.ok, r
    assert (tpm_files(stack), nvram_state(stack)) == before


def test_a_bad_vtpm_archive_is_refused_before_anything_changes(restorable, tmp_path):
    stack, remotes, store = restorable
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as archive:
        info = tarfile.TarInfo("tpm/tpm2-00.permall")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        archive.addfile(info)
    (store / "disk.tpm.0").write_bytes(evil.getvalue())
    before = (read_disk(stack, 23, 3 * MIB), tpm_files(stack), nvram_state(stack))
    r = restore(stack, remotes)
    assert not r.ok
    assert "holds something other than directories and regular files" in r.stderr
    assert len(r.error_lines) == 1 and "Traceback" not in r.stderr
    assert (read_disk(stack, 23, 3 * MIB), tpm_files(stack), nvram_state(stack)) == before
    assert [s for s in stack.snapshot_names() if "-tmRestore-" in s] == []


def test_a_failure_writing_the_nvram_puts_disk_nvram_and_tpm_back(restorable):
    stack, remotes, _ = restorable
    before = (read_disk(stack, 23, 3 * MIB), tpm_files(stack), nvram_state(stack))
    stack.sp.detach(NVRAM, "all", force=True)  # its device is not on the host: the write fails
    r = restore(stack, remotes)
    assert not r.ok
    assert "the NVRAM volume is not attached to this host" in r.stderr
    assert len(r.error_lines) == 1
    assert (read_disk(stack, 23, 3 * MIB), tpm_files(stack), nvram_state(stack)) == before
    assert [s for s in stack.snapshot_names() if "-tmRestore-" in s] == []


def test_a_backup_without_nvram_restores_the_disks_and_keeps_the_nvram(restorable):
    stack, remotes, store = restorable
    (store / "disk.nvram.0").unlink()  # made before onesp kept it, or by another driver
    before = nvram_state(stack)
    r = restore(stack, remotes)
    assert r.ok, r
    assert read_disk(stack, 24, 3 * MIB) == b"disk zero at backup time"
    assert tpm_files(stack) == {"tpm2-00.permall": TPM_STATE}
    assert nvram_state(stack) == before
    assert "holds no NVRAM of VM 7" in stack.log_file.read_text()

"""The UEFI NVRAM and the vTPM state in VM snapshots: vmm snapshot_create takes them with the
disks, snapshot_revert puts them back (the NVRAM volume and file the domain opens, the ``tpm``
directory OpenNebula's deploy hands to swtpm), snapshot_delete removes them; run as oned runs
these local VMM actions, with a ``virsh`` on PATH that only records its arguments.

VM 7 (named ``one-7``) runs on node1: volatile disk 0 and its NVRAM volume ``one-sys-7-NVRAM``
attached there, the NVRAM file ``<vm dir>/one-7_VARS.fd`` written by the guest since the last
save into the volume; with a TPM, ``<vm dir>/tpm`` holds its state (OpenNebula's kvm shutdown
wrote it there; vtpm_setup is not on this "host", so it is not refreshed).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import stat
import tarfile
from typing import Any, List

import pytest

MIB = 1024 * 1024
TIME = 1736200000
DISK = "one-sys-7-0-raw"
NVRAM = "one-sys-7-NVRAM"
VARS = b"OVMF-VARS-TEMPLATE" + b"\0" * 4078
HYPERVISOR_ID = "ONESNAP-0-%d" % TIME
SWTPM = "one-sys-7-SWTPM"
TPM_STATE = bytes(range(256)) * 40 + b"tpm state at the snapshot"
VIRSH = '#!/bin/sh\necho "$*" >> "$FAKE_VIRSH_LOG"\n'


def with_guest_bytes(text: bytes) -> bytes:
    return text + VARS[len(text):]


class Vm:
    def __init__(self, stack: Any, tmp_path: Any) -> None:
        self.stack = stack
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "virsh").write_text(VIRSH)
        (bin_dir / "virsh").chmod(0o755)
        self.virsh_log = tmp_path / "virsh.log"
        self.env = {"PATH": "%s:%s" % (bin_dir, stack.env["PATH"]), "FAKE_VIRSH_LOG": str(self.virsh_log)}
        self.file = stack.ds_location / "101" / "7" / "one-7_VARS.fd"

        self.tpm = self.file.parent / "tpm"
        self.tpm_model: Any = None

    def put(self, snapshots: Any = ()) -> str:
        b = self.stack.b
        self.xml: str = self.stack.put_vm(7, name="one-7", disks=[b.volatile_disk(0, 16)], vm_snapshots=snapshots,
                                          user_template={"T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"},
                                          tpm_model=self.tpm_model)
        return self.xml

    def run(self, action: str, second: str) -> Any:
        xml = self.stack.b.vmm_driver_action_xml(self.xml, host="node1", datastore=self.stack.system_ds_xml)
        return self.stack.vmm(action, "one-7", second, "7", "node1", stdin=base64.b64encode(xml.encode()),
                              env=self.env)

    def guest_writes(self, nvram: bytes, disk: bytes) -> None:
        with open(self.file, "r+b") as f:
            f.write(nvram)
        self.stack.write_volume(DISK, disk)

    def state(self) -> Any:
        """The NVRAM file (a regular file), the NVRAM volume's bytes and attachment, disk 0's first bytes."""
        assert stat.S_ISREG(os.lstat(self.file).st_mode)
        return (self.file.read_bytes(), self.stack.read_volume(NVRAM, len(VARS)), self.stack.clients_of(NVRAM),
                self.stack.read_volume(DISK, 32))


@pytest.fixture
def vm(stack: Any, tmp_path: Any) -> Vm:
    setup = Vm(stack, tmp_path)
    tags = {"virt": "one", "nloc": "one", "nvm": "7"}
    stack.sp.volume_create(DISK, size=16 * MIB, template="one-ds-101", tags=dict(tags, diskid="0", type="VOL"))
    stack.sp.volume_create(NVRAM, size=len(VARS), template="one-ds-101", tags=dict(tags, type="NVRAM"))
    stack.write_volume(NVRAM, VARS)
    for name in (DISK, NVRAM):
        stack.sp.attach(name, 1)
    setup.file.parent.mkdir(parents=True)
    setup.file.write_bytes(VARS)
    setup.guest_writes(b"BOOT-ORDER-1", b"disk as snapshotted")
    setup.put(snapshots=[stack.b.vm_snapshot(0, "", time=TIME, active=True)])
    return setup


def leftovers(vm: Vm) -> List[str]:
    return sorted(p.name for p in vm.file.parent.iterdir() if p.name.startswith(".onesp"))


def test_snapshot_takes_the_nvram_and_revert_puts_it_back(stack, vm):
    r = vm.run("snapshot_create-storpool", "0")
    assert r.ok, r
    assert r.stdout.strip() == HYPERVISOR_ID
    snapshot = "%s-%s" % (NVRAM, HYPERVISOR_ID)
    assert stack.read_volume(snapshot, len(VARS), snapshot=True) == with_guest_bytes(b"BOOT-ORDER-1")
    assert stack.sp.snapshot(snapshot)["tags"] == {"virt": "one", "nloc": "one", "nvm": "7"}

    vm.guest_writes(b"BOOT-ORDER-2", b"disk changed later")
    vm.put(snapshots=[stack.b.vm_snapshot(0, HYPERVISOR_ID, time=TIME)])
    r = vm.run("snapshot_revert-storpool", HYPERVISOR_ID)
    assert r.ok, r
    assert vm.state() == (with_guest_bytes(b"BOOT-ORDER-1"), with_guest_bytes(b"BOOT-ORDER-1"), {1: "rw"},
                          b"disk as snapshotted" + b"\0" * 13)
    assert leftovers(vm) == []
    assert [n for n in stack.snapshot_names() if "-SPTMP-" in n] == []

    r = vm.run("snapshot_delete-storpool", HYPERVISOR_ID)
    assert r.ok, r
    assert [n for n in stack.snapshot_names() if "-ONESNAP-" in n] == []


def test_a_revert_whose_nvram_rename_fails_puts_disk_volume_and_file_back(stack, vm, tmp_path):
    """The rename of the new NVRAM file over the old one takes effect but reports a failure
    (as a lost answer would): the undo puts the old file back, then the volumes."""
    assert vm.run("snapshot_create-storpool", "0").ok
    vm.guest_writes(b"BOOT-ORDER-2", b"disk changed later")
    vm.put(snapshots=[stack.b.vm_snapshot(0, HYPERVISOR_ID, time=TIME)])
    before = vm.state()
    marker = tmp_path / "mv-failed-once"
    fake_mv = tmp_path / "bin" / "mv"
    fake_mv.write_text('#!/bin/sh\n%s "$@" || exit\n[ -e %s ] && exit 0\ntouch %s; echo "mv: injected" >&2; exit 1\n'
                       % (shutil.which("mv"), marker, marker))
    fake_mv.chmod(0o755)
    r = vm.run("snapshot_revert-storpool", HYPERVISOR_ID)
    assert not r.ok
    assert marker.exists()
    assert "injected" in r.stderr
    assert len(r.error_lines) == 1 and "Traceback" not in r.stderr
    assert vm.state() == before
    assert leftovers(vm) == []
    assert [n for n in stack.snapshot_names() if "-SPTMP-" in n] == []


# -- the vTPM state -------------------------------------------------------------------------------


def tpm_files(vm: Vm) -> Any:
    return {p.relative_to(vm.tpm).as_posix(): p.read_bytes() for p in vm.tpm.rglob("*") if p.is_file()}


@pytest.fixture
def tpm_vm(stack: Any, vm: Vm) -> Vm:
    vm.tpm_model = "tpm-crb"
    vm.tpm.mkdir()
    (vm.tpm / "tpm2-00.permall").write_bytes(TPM_STATE)
    vm.put(snapshots=[stack.b.vm_snapshot(0, "", time=TIME, active=True)])
    return vm


def test_snapshot_takes_the_vtpm_state_and_revert_puts_it_back(stack, tpm_vm):
    vm = tpm_vm
    r = vm.run("snapshot_create-storpool", "0")
    assert r.ok, r
    # the addon's volume and form: a gzip tar of the tpm directory, then zeros; detached again
    volume = stack.volume(SWTPM)
    assert volume["size"] == 4 * MIB and volume["templateName"] == "one-ds-101"
    assert volume["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "type": "SWTPM"}
    assert stack.clients_of(SWTPM) == {}
    data = stack.read_volume("%s-%s" % (SWTPM, HYPERVISOR_ID), 4 * MIB, snapshot=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        assert archive.extractfile("tpm/tpm2-00.permall").read() == TPM_STATE
    assert "saved at the domain's last stop" in stack.log_file.read_text()

    (vm.tpm / "tpm2-00.permall").write_bytes(b"tpm state changed later")
    (vm.tpm / "extra").write_bytes(b"made later")
    vm.put(snapshots=[stack.b.vm_snapshot(0, HYPERVISOR_ID, time=TIME)])
    r = vm.run("snapshot_revert-storpool", HYPERVISOR_ID)
    assert r.ok, r
    assert tpm_files(vm) == {"tpm2-00.permall": TPM_STATE}
    assert leftovers(vm) == []
    assert stack.attachments("%s-%s" % (SWTPM, HYPERVISOR_ID)) == []

    r = vm.run("snapshot_delete-storpool", HYPERVISOR_ID)
    assert r.ok, r
    assert [n for n in stack.snapshot_names() if "-ONESNAP-" in n] == []


def test_a_second_snapshot_of_a_smaller_state_reads_back_exactly(stack, tpm_vm):
    """The volume is reused: what an earlier, larger archive left after the new one is zeroed."""
    vm = tpm_vm
    (vm.tpm / "big").write_bytes(os.urandom(200000))
    assert vm.run("snapshot_create-storpool", "0").ok
    (vm.tpm / "big").unlink()
    vm.put(snapshots=[stack.b.vm_snapshot(0, HYPERVISOR_ID, time=TIME), stack.b.vm_snapshot(1, "", time=TIME + 1)])
    assert vm.run("snapshot_create-storpool", "1").ok
    (vm.tpm / "tpm2-00.permall").write_bytes(b"changed")
    second = "ONESNAP-1-%d" % (TIME + 1)
    vm.put(snapshots=[stack.b.vm_snapshot(0, HYPERVISOR_ID, time=TIME), stack.b.vm_snapshot(1, second, time=TIME + 1)])
    r = vm.run("snapshot_revert-storpool", second)
    assert r.ok, r
    assert tpm_files(vm) == {"tpm2-00.permall": TPM_STATE}


def test_a_revert_whose_vtpm_archive_is_bad_changes_nothing(stack, tpm_vm):
    vm = tpm_vm
    assert vm.run("snapshot_create-storpool", "0").ok
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as archive:
        info = tarfile.TarInfo("tpm/tpm2-00.permall")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        archive.addfile(info)
    snapshot = "%s-%s" % (SWTPM, HYPERVISOR_ID)
    stack.sp.snapshot_delete(snapshot)
    stack.write_volume(SWTPM, evil.getvalue() + b"\0" * 4096)
    stack.sp.volume_snapshot(SWTPM, snapshot)
    vm.guest_writes(b"BOOT-ORDER-2", b"disk changed later")
    (vm.tpm / "tpm2-00.permall").write_bytes(b"tpm state changed later")
    vm.put(snapshots=[stack.b.vm_snapshot(0, HYPERVISOR_ID, time=TIME)])
    before = (vm.state(), tpm_files(vm))
    r = vm.run("snapshot_revert-storpool", HYPERVISOR_ID)
    assert not r.ok
    assert "the vTPM archive holds something other than directories and regular files" in r.stderr
    assert len(r.error_lines) == 1 and "Traceback" not in r.stderr
    assert (vm.state(), tpm_files(vm)) == before
    assert leftovers(vm) == []
    assert stack.attachments(snapshot) == []


def test_tm_delete_removes_the_vtpm_volume_and_its_vm_snapshots(stack, tpm_vm):
    """Also those the addon made (ONE_TPM_SAVE): same names."""
    stack.sp.volume_create(SWTPM, size=4 * MIB, template="one-ds-101",
                           tags={"virt": "one", "nloc": "one", "nvm": "7", "type": "SWTPM"})
    stack.sp.volume_snapshot(SWTPM, "%s-%s" % (SWTPM, HYPERVISOR_ID))
    tpm_vm.put(snapshots=[stack.b.vm_snapshot(0, HYPERVISOR_ID, time=TIME)])
    r = stack.tm("delete", stack.vm_dir("node1", 7), "7", "101")
    assert r.ok, r
    assert SWTPM not in stack.volume_names()
    assert [n for n in stack.snapshot_names() if "SWTPM" in n and "@" not in n] == []

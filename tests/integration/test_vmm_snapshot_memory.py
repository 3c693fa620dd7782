"""VM snapshots with the guest's memory (VMSNAPSHOT_WITH_CHECKPOINT in the user template): vmm
snapshot_create saves the domain into ``one-sys-7`` and takes it with the disks, snapshot_revert
restores the domain from that snapshot, snapshot_delete removes it; run as oned runs these
local VMM actions.

VM 7 (``one-7``, 4 MiB of MEMORY) runs on node1 with volatile disk 0 attached there. ``virsh``
on PATH is a fake: ``save <domain> <path>`` writes a header and the bytes of FAKE_MEMORY to
the path without truncating it (as on a block device), ``restore <path>`` reads them back into
FAKE_RESTORED; FAKE_SAVE_FAIL / FAKE_RESTORE_FAIL make them fail. ``domstate`` answers
"running" until a save or destroy ("shut off") and again after a restore. Every call is logged.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from pathlib import Path
from typing import Any, List

import pytest

MIB = 1024 * 1024
TIME = 1736200000
DISK = "one-sys-7-0-raw"
MEMORY_VOLUME = "one-sys-7"
MEMORY = bytes(range(256)) * 2048 + b"the guest's last page"
IMAGE = b"MEM!" + struct.pack(">Q", len(MEMORY)) + MEMORY

FAKE_VIRSH = """#!%s
import json, os, struct, sys
args = sys.argv[1:]
with open(os.environ["FAKE_VIRSH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
sub = args[2]
state = os.environ["FAKE_VIRSH_LOG"] + ".state"
if sub == "domstate":
    sys.stdout.write(open(state).read() if os.path.exists(state) else "running")
elif sub == "destroy":
    open(state, "w").write("shut off")
elif sub == "save":
    if os.environ.get("FAKE_SAVE_FAIL"):
        sys.stderr.write("error: Failed to save domain %%s: injected\\n" %% args[3])
        sys.exit(1)
    data = open(os.environ["FAKE_MEMORY"], "rb").read()
    fd = os.open(args[4], os.O_WRONLY)
    os.write(fd, b"MEM!" + struct.pack(">Q", len(data)) + data)
    os.close(fd)
    open(state, "w").write("shut off")
elif sub == "restore":
    if os.environ.get("FAKE_RESTORE_FAIL"):
        sys.stderr.write("error: Failed to restore domain from %%s: injected\\n" %% args[3])
        sys.exit(1)
    with open(args[3], "rb") as f:
        assert f.read(4) == b"MEM!", "not a saved domain"
        length = struct.unpack(">Q", f.read(8))[0]
        open(os.environ["FAKE_RESTORED"], "wb").write(f.read(length))
    open(state, "w").write("running")
"""


class Vm:
    def __init__(self, stack: Any, root: Path) -> None:
        self.stack = stack
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "virsh").write_text(FAKE_VIRSH % sys.executable)
        (bin_dir / "virsh").chmod(0o755)
        self.log = root / "virsh.log"
        memory = root / "memory"
        memory.write_bytes(MEMORY)
        self.restored = root / "restored"
        self.env = {"PATH": "%s:%s" % (bin_dir, stack.env["PATH"]), "FAKE_VIRSH_LOG": str(self.log),
                    "FAKE_MEMORY": str(memory), "FAKE_RESTORED": str(self.restored)}

    def put(self, snapshots: Any, with_memory: bool = True) -> None:
        self.xml = self.stack.put_vm(7, name="one-7", memory=4, disks=[self.stack.b.volatile_disk(0, 16)],
                                     vm_snapshots=snapshots,
                                     user_template={"VMSNAPSHOT_WITH_CHECKPOINT": "YES"} if with_memory else None)

    def run(self, action: str, second: str, **extra: str) -> Any:
        xml = self.stack.b.vmm_driver_action_xml(self.xml, host="node1", datastore=self.stack.system_ds_xml)
        return self.stack.vmm(action, "one-7", second, "7", "node1", stdin=base64.b64encode(xml.encode()),
                              env=dict(self.env, **extra))

    def virsh(self) -> List[str]:
        """The virsh subcommands run, in order, and their arguments."""
        if not self.log.exists():
            return []
        return [" ".join(json.loads(line)[2:]) for line in self.log.read_text().splitlines()]


@pytest.fixture
def vm(stack: Any, tmp_path: Path) -> Vm:
    setup = Vm(stack, tmp_path)
    stack.sp.volume_create(DISK, size=16 * MIB, template="one-ds-101",
                           tags={"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0", "type": "VOL"})
    stack.sp.attach(DISK, 1)
    stack.write_volume(DISK, b"disk as snapshotted")
    setup.put([stack.b.vm_snapshot(0, "", time=TIME, active=True)])
    return setup


def onesnaps(stack: Any) -> List[str]:
    return sorted(n for n in stack.snapshot_names() if "-ONESNAP-" in n or "-SPTMP-" in n)


def hid(snap_id: int) -> str:
    return "ONESNAP-%d-%d" % (snap_id, TIME)


def test_the_memory_is_taken_with_the_disks_restored_by_revert_and_deleted_with_them(stack, vm):
    vm.put([stack.b.vm_snapshot(0, "", time=TIME, active=True)], with_memory=False)
    r = vm.run("snapshot_create-storpool", "0")
    assert r.ok, r
    assert onesnaps(stack) == ["%s-%s" % (DISK, hid(0))] and vm.virsh() == []  # without it: the disks only

    vm.put([stack.b.vm_snapshot(0, hid(0), time=TIME), stack.b.vm_snapshot(1, "", time=TIME, active=True)])
    r = vm.run("snapshot_create-storpool", "1")
    assert r.ok, r
    assert r.stdout.strip() == hid(1)
    memory_snapshot = "%s-%s" % (MEMORY_VOLUME, hid(1))
    assert onesnaps(stack) == sorted(["%s-%s" % (DISK, hid(0)), "%s-%s" % (DISK, hid(1)), memory_snapshot])
    assert stack.read_volume(memory_snapshot, len(IMAGE), snapshot=True) == IMAGE
    assert stack.sp.snapshot(memory_snapshot)["size"] == 2 * 4 * MIB
    assert stack.sp.snapshot(memory_snapshot)["tags"] == {"virt": "one", "nloc": "one", "nvm": "7"}
    assert MEMORY_VOLUME not in stack.volume_names()
    calls = vm.virsh()
    assert [c.split()[0] for c in calls] == ["save", "restore"]
    assert calls[0].startswith("save one-7 ") and calls[1] == "restore " + calls[0].split()[2]
    assert vm.restored.read_bytes() == MEMORY

    vm.restored.unlink()
    vm.log.unlink()
    stack.write_volume(DISK, b"disk changed later")
    vm.put([stack.b.vm_snapshot(0, hid(0), time=TIME), stack.b.vm_snapshot(1, hid(1), time=TIME, active=True)])
    r = vm.run("snapshot_revert-storpool", hid(1))
    assert r.ok, r
    assert [c.split()[0] for c in vm.virsh()] == ["destroy", "restore"]
    assert vm.restored.read_bytes() == MEMORY
    assert stack.read_volume(DISK, 19) == b"disk as snapshotted"
    assert stack.clients_of(memory_snapshot) == {} and stack.clients_of(DISK) == {1: "rw"}

    r = vm.run("snapshot_delete-storpool", hid(1))
    assert r.ok, r
    assert onesnaps(stack) == ["%s-%s" % (DISK, hid(0))]


def test_a_failed_memory_save_leaves_no_volume_and_no_snapshot(stack, vm):
    before = stack.ctl.state(with_bytes=True)
    r = vm.run("snapshot_create-storpool", "0", FAKE_SAVE_FAIL="1")
    assert not r.ok
    assert len(r.error_lines) == 1 and "injected" in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.ctl.state(with_bytes=True) == before
    assert onesnaps(stack) == [] and MEMORY_VOLUME not in stack.volume_names()
    assert [c.split()[0] for c in vm.virsh()] == ["save", "domstate"] and not vm.restored.exists()


def test_a_failed_group_snapshot_restores_the_domain_and_removes_the_memory_volume(stack, vm):
    before = stack.ctl.state(with_bytes=True)
    stack.ctl.inject_fault("VolumesGroupSnapshot", error="insufficientResources", descr="no space", when="after")
    r = vm.run("snapshot_create-storpool", "0")
    assert not r.ok
    assert len(r.error_lines) == 1 and "no space" in r.error_lines[0] and "Traceback" not in r.stderr
    assert [c.split()[0] for c in vm.virsh()] == ["save", "domstate", "restore"]
    assert vm.restored.read_bytes() == MEMORY
    assert stack.ctl.state(with_bytes=True) == before


def test_a_revert_whose_restore_fails_puts_the_disks_back(stack, vm):
    assert vm.run("snapshot_create-storpool", "0").ok
    stack.write_volume(DISK, b"disk changed later")
    vm.put([stack.b.vm_snapshot(0, hid(0), time=TIME, active=True)])
    before = stack.ctl.state(with_bytes=True)
    r = vm.run("snapshot_revert-storpool", hid(0), FAKE_RESTORE_FAIL="1")
    assert not r.ok
    assert len(r.error_lines) == 1 and "injected" in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.read_volume(DISK, 18) == b"disk changed later"
    assert stack.ctl.state(with_bytes=True) == before


def test_an_existing_memory_volume_is_never_overwritten(stack, vm):
    stack.sp.volume_create(MEMORY_VOLUME, size=MIB, tags={"virt": "one", "nloc": "one", "nvm": "7", "type": "CHKPNT"})
    stack.write_volume(MEMORY_VOLUME, b"an earlier run's memory")
    before = stack.ctl.state(with_bytes=True)
    r = vm.run("snapshot_create-storpool", "0")
    assert not r.ok
    assert len(r.error_lines) == 1 and MEMORY_VOLUME in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.ctl.state(with_bytes=True) == before and vm.virsh() == []



def test_a_domain_that_cannot_be_restored_keeps_its_memory_volume(stack, vm):
    """The group snapshot fails and so does every restore: the volume holding the memory stays."""
    stack.ctl.inject_fault("VolumesGroupSnapshot", error="insufficientResources", descr="no space", when="before")
    r = vm.run("snapshot_create-storpool", "0", FAKE_RESTORE_FAIL="1")
    assert not r.ok
    assert len(r.error_lines) == 1 and "no space" in r.error_lines[0] and "Traceback" not in r.stderr
    assert [c.split()[0] for c in vm.virsh()] == ["save", "domstate", "restore", "restore", "restore"]
    assert stack.read_volume(MEMORY_VOLUME, len(IMAGE)) == IMAGE
    assert onesnaps(stack) == []

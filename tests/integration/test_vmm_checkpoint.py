"""Memory checkpoints on StorPool (SP_CHECKPOINT / SP_CHECKPOINT_BD): save-storpool and
restore-storpool run as oned runs these local VMM actions (argv, base64 driver action on stdin).

On "node1" (local host runner) the stock kvm ``save`` and ``restore`` are fakes that behave
like ``virsh save``/``virsh restore`` towards the checkpoint path: save opens it for writing
without truncating (as on a block device) and writes a header and the guest's memory (the
bytes of FAKE_MEMORY); restore reads them back into FAKE_RESTORED. VM 7 (4 MiB of MEMORY) has
its VM directory on system datastore 101 (StorPool).
"""

from __future__ import annotations

import base64
import os
import stat
import struct
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

VM = 7
MIB = 1024 * 1024
VOLUME = "one-sys-7-rawcheckpoint"
MEMORY = bytes(range(256)) * 4096 + b"the guest's last page"  # 1 MiB and a bit: more than any other file there

FAKE_STOCK = """#!%s
import os, struct, sys
name = os.path.basename(sys.argv[0])
sys.stdin.read()
if name == "save":
    if os.environ.get("FAKE_SAVE_FAIL"):
        sys.stderr.write("error: Failed to save domain %%s: injected\\n" %% sys.argv[1])
        sys.exit(1)
    data = open(os.environ["FAKE_MEMORY"], "rb").read()
    fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"CKPT" + struct.pack(">Q", len(data)) + data)
    os.close(fd)
elif name == "restore":
    if os.environ.get("FAKE_RESTORE_FAIL"):
        sys.stderr.write("error: Failed to restore domain from %%s: injected\\n" %% sys.argv[1])
        sys.exit(1)
    with open(sys.argv[1], "rb") as f:
        assert f.read(4) == b"CKPT", "not a checkpoint"
        length = struct.unpack(">Q", f.read(8))[0]
        open(os.environ["FAKE_RESTORED"], "wb").write(f.read(length))
"""


class Node:
    def __init__(self, stack: Any, root: Path) -> None:
        self.stack = stack
        kvm = root / "remote" / "vmm" / "kvm"
        kvm.mkdir(parents=True)
        for name in ("save", "restore"):
            script = kvm / name
            script.write_text(FAKE_STOCK % sys.executable)
            script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self.memory = root / "memory"
        self.memory.write_bytes(MEMORY)
        self.restored = root / "restored"
        self.vm_dir = stack.ds_location / "101" / str(VM)
        self.vm_dir.mkdir(parents=True)
        (self.vm_dir / "deployment.0").write_text("<domain/>")
        self.file = str(self.vm_dir / "checkpoint")
        self.base_env = {"ONESP_SCRIPTS_REMOTE_DIR": str(root / "remote"), "FAKE_MEMORY": str(self.memory),
                         "FAKE_RESTORED": str(self.restored)}
        self.xml = stack.put_vm(VM, name="one-7", memory=4, disks=[stack.b.volatile_disk(0, 16)])

    def env(self, **extra: str) -> Dict[str, str]:
        return dict(self.base_env, **extra)

    def run(self, action: str, *argv: str, **extra: str) -> Any:
        xml = self.stack.b.vmm_driver_action_xml(self.xml, host="node1", datastore=self.stack.system_ds_xml)
        return self.stack.vmm(action, *argv, stdin=base64.b64encode(xml.encode()), env=self.env(**extra))

    def save(self, **extra: str) -> Any:
        return self.run("save-storpool", "one-7", self.file, "node1", str(VM), "node1", **extra)

    def restore(self, **extra: str) -> Any:
        return self.run("restore-storpool", self.file, "node1", "one-7", str(VM), "node1", **extra)

    def files(self) -> List[str]:
        return sorted(p.name for p in self.vm_dir.iterdir())

    def largest_file(self) -> int:
        return max(os.lstat(p).st_size for p in self.vm_dir.iterdir())


@pytest.fixture
def node(stack: Any, tmp_path: Path) -> Node:
    return Node(stack, tmp_path)


def test_save_puts_the_memory_in_a_volume_and_restore_brings_it_back(stack, node):
    r = node.save(ONESP_SP_CHECKPOINT="yes")
    assert r.ok, r
    volume = stack.volume(VOLUME)
    assert volume["size"] == 2 * 4 * MIB and volume["templateName"] == "one-ds-101"
    assert volume["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "type": "CHKPNT"}
    assert stack.clients_of(VOLUME) == {}
    assert stack.read_volume(VOLUME, 12 + len(MEMORY)) == b"CKPT" + struct.pack(">Q", len(MEMORY)) + MEMORY
    assert node.files() == ["deployment.0"] and node.largest_file() < 1024

    r = node.restore(ONESP_SP_CHECKPOINT="yes")
    assert r.ok, r
    assert node.restored.read_bytes() == MEMORY
    assert VOLUME not in stack.volume_names()
    assert [n for n in stack.snapshot_names() if VOLUME in n] == []
    assert node.files() == ["deployment.0"]


def test_the_block_device_key_does_the_same_and_a_second_save_replaces_a_stale_volume(stack, node):
    assert node.save(ONESP_SP_CHECKPOINT_BD="1").ok
    node.memory.write_bytes(b"newer memory")
    r = node.save(ONESP_SP_CHECKPOINT_BD="1")
    assert r.ok, r
    assert stack.volume_names().count(VOLUME) == 1
    assert node.restore(ONESP_SP_CHECKPOINT_BD="1").ok
    assert node.restored.read_bytes() == b"newer memory"
    assert VOLUME not in stack.volume_names()


def test_a_failed_save_leaves_no_volume_and_no_link(stack, node):
    before = stack.state()
    r = node.save(ONESP_SP_CHECKPOINT="yes", FAKE_SAVE_FAIL="1")
    assert not r.ok
    assert len(r.error_lines) == 1 and "injected" in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.state() == before
    assert node.files() == ["deployment.0"]


def test_a_failed_restore_keeps_the_volume_for_the_retry(stack, node):
    assert node.save(ONESP_SP_CHECKPOINT="nomigrate").ok
    r = node.restore(ONESP_SP_CHECKPOINT="nomigrate", FAKE_RESTORE_FAIL="1")
    assert not r.ok
    assert len(r.error_lines) == 1 and "injected" in r.error_lines[0] and "Traceback" not in r.stderr
    assert VOLUME in stack.volume_names() and stack.clients_of(VOLUME) == {}
    assert node.files() == ["deployment.0"]
    assert node.restore(ONESP_SP_CHECKPOINT="nomigrate").ok
    assert node.restored.read_bytes() == MEMORY and VOLUME not in stack.volume_names()


def test_restore_with_both_a_file_and_a_volume_refuses_and_changes_nothing(stack, node):
    assert node.save(ONESP_SP_CHECKPOINT="yes").ok
    (node.vm_dir / "checkpoint").write_bytes(b"an older file")
    before = stack.state()
    r = node.restore(ONESP_SP_CHECKPOINT="yes")
    assert not r.ok
    assert len(r.error_lines) == 1 and "both" in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.state() == before and (node.vm_dir / "checkpoint").read_bytes() == b"an older file"
    assert not node.restored.exists()


def test_a_checkpoint_path_outside_the_vm_directory_is_refused(stack, node):
    before = stack.state()
    r = node.run("save-storpool", "one-7", "/etc/passwd", "node1", str(VM), "node1", ONESP_SP_CHECKPOINT="yes")
    assert not r.ok
    assert len(r.error_lines) == 1 and "/etc/passwd" in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.state() == before


def test_without_the_option_the_checkpoint_stays_in_the_vm_directory(stack, node):
    before = stack.state()
    assert node.save().ok
    assert (node.vm_dir / "checkpoint").read_bytes()[12:] == MEMORY
    assert stack.state() == before
    assert node.restore().ok
    assert node.restored.read_bytes() == MEMORY


def test_a_bad_value_is_one_clear_line(stack, node):
    before = stack.state()
    r = node.save(ONESP_SP_CHECKPOINT="always")
    assert not r.ok
    assert len(r.error_lines) == 1 and "SP_CHECKPOINT" in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.state() == before and node.files() == ["deployment.0"]


def test_tm_delete_removes_only_this_vms_leftover_checkpoint(stack, node):
    for name in (VOLUME, "one-sys-77-rawcheckpoint"):
        stack.sp.volume_create(name, size=MIB, tags={"virt": "one", "nloc": "one", "type": "CHKPNT"})
    r = stack.tm("delete", stack.vm_dir("node1", VM), str(VM), "101")
    assert r.ok, r
    names = stack.volume_names()
    assert VOLUME not in names and "one-sys-77-rawcheckpoint" in names

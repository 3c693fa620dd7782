"""Every mutating action with a starting state: how to build it, and how oned runs the action.

A scenario's ``build(stack)`` lays out StorPool objects, oned documents and host files the
way the integration tests of that action do (tests/integration/test_<kind>_<action>.py),
and returns the ``Invocation`` (argv, stdin, environment) oned would use. ``fresh(stack)``
puts the installation back to empty (emulator reset, templates, host directories) so a
scenario can be built again in the same stand-ins, many times per test, without new
processes. ``snapshot(stack)`` is the state the reliability tests compare: StorPool's
normalised state and the files, directories and symlinks under the hosts' directories.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from onesp.sim.stack import Result, Stack

MIB = 1024 * 1024
VM = 7
TS = 1736100000
VM_TAGS = {"virt": "one", "nloc": "one", "nvm": "7"}
#: StorPool calls whose effect no undo can take back: past the first of them an action can
#: no longer roll back, only be completed by a re-run (oned retries a failed delete).
DELETIONS = frozenset({"VolumeDelete", "SnapshotDelete"})
#: A delete action: deleting a volume (volumes.delete: forced detach, DELAY_DELETE copy,
#: delete) is one step without undo by design, so its first call is the point of no return.
DELETE_ACTION = DELETIONS | {"VolumesReassignWait", "VolumeSnapshot"}


@dataclass(frozen=True)
class Invocation:
    """How oned runs one action: executable (kind, file name), argv, stdin, extra environment."""

    kind: str
    executable: str
    argv: Tuple[str, ...]
    stdin: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The start of the action's error line: ``tm clone``, ``vmm snapshot_create``."""
        return "%s %s" % (self.kind, self.executable.replace("-storpool", ""))

    def run(self, stack: Stack, env: Optional[Mapping[str, str]] = None, **kwargs: Any) -> Result:
        """Run it; ``env`` adds to (and overrides) the invocation's own environment."""
        return stack.run(self.kind, self.executable, *self.argv, stdin=self.stdin, env=dict(self.env, **(env or {})),
                         **kwargs)

    def command(self, stack: Stack) -> List[str]:
        """The argv of the executable itself (for tests that start it with Popen)."""
        from onesp.sim.stack import EXECUTABLE_DIRS

        return [sys.executable, str(EXECUTABLE_DIRS[self.kind] / self.executable), *self.argv]


@dataclass(frozen=True)
class Scenario:
    """One mutating action from one starting state.

    ``irreversible``: call names past whose first success the action cannot roll back.
    ``needs``: host tools the action runs (the scenario is skipped where one is missing).
    """

    name: str
    build: Callable[[Stack], Invocation]
    irreversible: FrozenSet[str] = DELETIONS
    needs: Tuple[str, ...] = ()
    private_hosts: bool = False

    def missing_tools(self) -> List[str]:
        return [tool for tool in self.needs if shutil.which(tool) is None]


# -- resetting and observing ------------------------------------------------------------------------


def host_roots(stack: Stack) -> List[Path]:
    """Where actions write on hosts and the front-end: datastores, private host views, staging."""
    return [stack.ds_location, stack.root / "hosts", stack.root / "staging"]


def fresh(stack: Stack) -> None:
    """Empty StorPool (the datastores' templates recreated) and empty host directories."""
    stack.ctl.reset()
    for ds in (100, 101):
        stack.sp.template_create("one-ds-%d" % ds, replication=3, placeAll="default", placeTail="default")
    for root in host_roots(stack):
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def host_state(stack: Stack) -> Dict[str, Tuple[str, str]]:
    """Every file, directory and symlink under the host roots: kind and target or content digest.

    Paths are relative to the stack's directory and link targets name the device directory
    as ``<dev>``, so two stacks in the same state compare equal."""
    found: Dict[str, Tuple[str, str]] = {}
    for root in host_roots(stack):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                key = str(path.relative_to(stack.root))
                if path.is_symlink():
                    target = os.readlink(path)
                    for prefix, label in ((str(stack.dev_dir), "<dev>"), (str(stack.root), "<root>")):
                        if target.startswith(prefix + os.sep):
                            target = label + target[len(prefix):]
                    found[key] = ("link", target)
                elif path.is_dir():
                    found[key] = ("dir", "")
                else:
                    found[key] = ("file", hashlib.sha1(path.read_bytes()).hexdigest())
    return found


def _anonymous(name: str, record: Mapping[str, Any]) -> bool:
    return name.startswith("~") or bool(record.get("autoName"))


def normalised(state: Mapping[str, Any]) -> Dict[str, Any]:
    """StorPool state without what differs between two equal runs: global ids, the exact
    DELAY_DELETE dates, and the names of anonymous snapshots (``<volume>@<n>``, ``~<id>``),
    which become ``<volume>@anonymous`` (with ``'`` appended for a second one)."""
    renamed = {}
    for name in sorted(state["snapshots"]):
        record = state["snapshots"][name]
        if _anonymous(name, record):
            base = name.split("@", 1)[0] if "@" in name else str(record.get("onVolume") or "~")
            key = base + "@anonymous"
            while key in renamed.values():
                key += "'"
            renamed[name] = key

    def clean(record: Mapping[str, Any]) -> Dict[str, Any]:
        out = {k: v for k, v in record.items() if k != "globalId"}
        if "targetDeleteDate" in out:
            out["targetDeleteDate"] = bool(out["targetDeleteDate"])
        if out.get("parent") in renamed:
            out["parent"] = renamed[out["parent"]]
        return out

    return {
        "volumes": {name: clean(record) for name, record in state["volumes"].items()},
        "snapshots": {renamed.get(name, name): clean(record) for name, record in state["snapshots"].items()},
        "attachments": [dict(a, name=renamed.get(a["name"], a["name"])) for a in state["attachments"]],
        "templates": state["templates"],
    }


def durable(state: Mapping[str, Any]) -> Dict[str, Any]:
    """``state`` without the snapshots StorPool deletes by itself when their DELAY_DELETE
    runs out (references to them read ``pending deletion``), and the set of volumes such
    copies were kept of: two runs that each kept a copy of a volume end in the same place."""
    pending = {name for name, s in state["snapshots"].items() if s.get("targetDeleteDate")}

    def clean(record: Mapping[str, Any]) -> Dict[str, Any]:
        out = dict(record)
        if out.get("parent") in pending:
            out["parent"] = "pending deletion"
        return out

    return {
        "volumes": {name: clean(r) for name, r in state["volumes"].items()},
        "snapshots": {name: clean(r) for name, r in state["snapshots"].items() if name not in pending},
        "attachments": state["attachments"],
        "templates": state["templates"],
        "kept copies of": sorted({name.split("@", 1)[0] for name in pending}),
    }


@dataclass(frozen=True)
class Snapshot:
    """What the reliability tests compare after a run."""

    storpool: Dict[str, Any]
    hosts: Dict[str, Tuple[str, str]]

    def names(self) -> FrozenSet[str]:
        """Names of volumes and snapshots (a second anonymous copy counts as the first)."""
        return frozenset(self.storpool["volumes"]) | frozenset(n.rstrip("'") for n in self.storpool["snapshots"])

    def durable(self) -> "Snapshot":
        return Snapshot(durable(self.storpool), self.hosts)


def snapshot(stack: Stack) -> Snapshot:
    return Snapshot(normalised(stack.state()), host_state(stack))


def prepare(stack: Stack, scenario: Scenario) -> Invocation:
    """Reset, build the scenario's starting state, clear the call log; returns the invocation."""
    fresh(stack)
    if scenario.private_hosts:
        stack.private_hosts()
    else:  # a stack is reused for many scenarios: back to one directory for all hosts
        stack.env.pop("ONESP_LOCAL_PRIVATE_DIR", None)
        stack.env.pop("ONESP_LOCAL_HOSTS_DIR", None)
    for host in (None, "node1", "node2"):  # hosts have their system datastore's directory
        (stack.host_root(host) / "101").mkdir(parents=True, exist_ok=True)
    invocation = scenario.build(stack)
    stack.ctl.reset_calls()
    return invocation


# -- shared pieces of starting states ----------------------------------------------------------------


def _link(stack: Stack, volume: str, disk: int, host: Optional[str] = None, ds: int = 101) -> Path:
    link = stack.local_disk(VM, disk, ds_id=ds, host=host)
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(str(stack.dev_dir / volume), link)
    return link


def _clone_deployed(stack: Stack, snapshots: Sequence[Any] = (), size: int = 16, **vm: Any) -> None:
    """VM 7 on node1 with disk 0 a clone of image 5 (as tm clone leaves it), holding "current"."""
    b = stack.b
    stack.put_image(5, data=b"boot")
    stack.put_vm(VM, disks=[b.image_disk(0, 5, size=size, snapshots=snapshots)], **vm)
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(VM_TAGS, diskid="0", type="NPERS"))
    stack.sp.attach("one-img-5-7-0", 1)
    _link(stack, "one-img-5-7-0", 0)
    stack.write_volume("one-img-5-7-0", b"current")


def _fake_virsh(stack: Stack) -> Dict[str, str]:
    """A ``virsh`` that succeeds silently (the VM's domain is destroyed at once)."""
    folder = stack.root / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / "virsh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return {"PATH": "%s:%s" % (folder, stack.env["PATH"])}


# -- datastore actions ---------------------------------------------------------------------------------


def ds_cp(stack: Stack) -> Invocation:
    folder = stack.root / "images"
    qcow2 = folder / "disk.qcow2"
    if not qcow2.exists():
        folder.mkdir(exist_ok=True)
        raw = folder / "disk.raw"
        raw.write_bytes(b"onesp image data " * 65536 + b"tail")
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    staging = stack.root / "staging"
    staging.mkdir(exist_ok=True)
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(folder)})
    image = stack.b.image_xml(5, source="", path=str(qcow2), state=4, size=2)
    stack.oned.put("image", image)
    return Invocation("ds", "cp", ("5",), stack.ds_action(ds, image), {"ONESP_STAGING_DIR": str(staging)})


def ds_mkfs(stack: Stack) -> Invocation:
    image = stack.b.image_xml(5, type="DATABLOCK", source="", state=4, size=10, fs="ext4")
    stack.oned.put("image", image)
    return Invocation("ds", "mkfs", ("5",), stack.ds_action(stack.put_datastore(100), image))


def ds_rm(stack: Stack) -> Invocation:
    """Image 5 with two snapshots oned lists, in use on client 1; neighbours that must stay."""
    b = stack.b
    image = stack.put_image(5, persistent=True, data=b"data", state=1,
                            snapshots=[b.disk_snapshot(0), b.disk_snapshot(1, parent=0)])
    for snap in ("one-img-5-snap0", "one-img-5-snap1"):
        stack.sp.volume_snapshot("one-img-5", snap)
    stack.put_image(50, persistent=True)
    stack.sp.volume_snapshot("one-img-50", "one-img-50-snap0")
    stack.sp.attach("one-img-5", 1)
    return Invocation("ds", "rm", ("5",), stack.ds_action(stack.put_datastore(100), image))


def ds_clone(stack: Stack) -> Invocation:
    stack.put_image(5, data=b"original bytes")
    image = stack.b.image_xml(6, source="", path="one-ds-100/one-img-5", state=4, cloning_id=5)
    stack.oned.put("image", image)
    return Invocation("ds", "clone", ("6",), stack.ds_action(stack.put_datastore(100), image))


def _image_with_history(stack: Stack, target: int, **image: Any) -> Invocation:
    """one-img-5 holding "v2", snap0 = "v0", snap1 = "v1", both listed by oned; a stale qc tag."""
    b = stack.b
    snaps = [b.disk_snapshot(0), b.disk_snapshot(1, parent=0)]
    stack.put_image(5, persistent=True, data=b"v0", snapshots=snaps)
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap0")
    stack.write_volume("one-img-5", b"v1")
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap1")
    stack.write_volume("one-img-5", b"v2")
    stack.sp.volume_update("one-img-5", tags={"qc": "stale"})
    stack.put_image(50)
    stack.sp.volume_snapshot("one-img-50", "one-img-50-snap0")
    xml = b.image_xml(5, persistent=True, target_snapshot=target, state=4, size=16, snapshots=snaps, **image)
    return Invocation("ds", "", ("5",), stack.ds_action(stack.put_datastore(100), xml))


def _ds_snap(action: str, target: int, **image: Any) -> Callable[[Stack], Invocation]:
    def build(stack: Stack) -> Invocation:
        inv = _image_with_history(stack, target, **image)
        return Invocation("ds", action, inv.argv, inv.stdin)

    build.__name__ = "ds_" + action
    return build


# -- transfer manager actions ------------------------------------------------------------------------------


def tm_clone(stack: Stack) -> Invocation:
    stack.put_image(5, data=b"bootsector")
    stack.put_vm(VM, disks=[stack.b.image_disk(0, 5, size=32, original_size=16)])
    return Invocation("tm", "clone", ("fe:one-ds-100/one-img-5", stack.disk_path("node1", VM, 0), "7", "100"))


def tm_ln(stack: Stack) -> Invocation:
    """A persistent image, still attached on the VM's earlier host (node2), deployed on node1."""
    b = stack.b
    stack.put_image(6, persistent=True, data=b"persistent", template={"SP_QOSCLASS": "bronze"})
    stack.put_vm(VM, disks=[b.image_disk(0, 6, persistent=True, size=16)],
                 history=[b.history("node2", hid=2), b.history("node1", hid=1)])
    stack.sp.attach("one-img-6", 2)
    return Invocation("tm", "ln", ("fe:one-ds-100/one-img-6", stack.disk_path("node1", VM, 0), "7", "100"))


def tm_mkimage(stack: Stack) -> Invocation:
    stack.put_vm(VM, disks=[stack.b.volatile_disk(0, 16, fs="ext4")])
    return Invocation("tm", "mkimage", ("16", "raw", stack.disk_path("node1", VM, 0), "7", "101"))


def tm_mkswap(stack: Stack) -> Invocation:
    stack.put_vm(VM, disks=[stack.b.volatile_disk(0, 16, kind="swap")])
    return Invocation("tm", "mkswap", ("16", stack.disk_path("node1", VM, 0), "7", "101"))


def tm_context(stack: Stack) -> Invocation:
    """Context ISO and UEFI NVRAM of VM 7 deployed on node1; its persistent disk is still
    attached on the VM's earlier host node2 as well."""
    b = stack.b
    folder = stack.root / "vms" / "7"
    folder.mkdir(parents=True, exist_ok=True)
    context_sh = folder / "context.sh"
    context_sh.write_text("ETH0_IP='10.0.0.7'\nHOSTNAME='web'\n")
    nvram = folder / "OVMF_VARS.fd"
    nvram.write_bytes(b"NVRAM-VARS" + bytes(1014))
    stack.put_image(6, persistent=True)
    stack.put_vm(VM, disks=[b.image_disk(0, 6, persistent=True, size=16)],
                 history=[b.history("node2", hid=2), b.history("node1", hid=1)],
                 user_template={"T_OS_NVRAM": "storpool:template=%s" % nvram})
    stack.sp.attach("one-img-6", 1)
    stack.sp.attach("one-img-6", 2)
    _link(stack, "one-img-6", 0)
    return Invocation("tm", "context", (str(context_sh), stack.disk_path("node1", VM, 1), "7", "101"))


MIGRATE = 8
DEPLOYED = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw", "one-sys-7-3-iso")


def _vm_on_node1(stack: Stack, lcm_state: int, **vm: Any) -> str:
    """VM 7 (disk 0 clone of image 5, persistent disk 1, volatile disk 2, context disk 3) on
    node1 with node2 as its next host; its volumes attached to node1, its directory there."""
    b = stack.b
    stack.put_image(5, data=b"boot-5")
    stack.put_image(6, data=b"data-6", persistent=True)
    disks = [b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16), b.volatile_disk(2, 16)]
    xml = stack.put_vm(VM, disks=disks, lcm_state=lcm_state,
                       history=(b.history("node1", hid=1), b.history("node2", hid=2)), **vm)
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(VM_TAGS, diskid="0", type="NPERS"))
    stack.sp.volume_update("one-img-6", tags=dict(VM_TAGS, diskid="1", type="PERS"))
    stack.sp.volume_create("one-sys-7-2-raw", size=16 * MIB, template="one-ds-101",
                           tags=dict(VM_TAGS, diskid="2", type="VOL"))
    stack.sp.volume_create("one-sys-7-3-iso", size=MIB, template="one-ds-101",
                           tags=dict(VM_TAGS, diskid="3", type="CNTXT"))
    for disk, name in enumerate(DEPLOYED):
        stack.sp.attach(name, 1)
        link = _link(stack, name, disk, host="node1")
        (link.parent / ("disk.%d.monitor" % disk)).write_text("storpool\n")
    (link.parent / "deployment.0").write_bytes(b"<domain>vm 7</domain>")
    return xml


def tm_mv(stack: Stack) -> Invocation:
    """Cold migration node1 -> node2 of the non-persistent disk."""
    _vm_on_node1(stack, MIGRATE)
    return Invocation("tm", "mv", (stack.disk_path("node1", VM, 0), stack.disk_path("node2", VM, 0), "7", "100"))


def tm_mv_dir(stack: Stack) -> Invocation:
    """Cold migration node1 -> node2 of the VM directory (volatile and context volumes with it)."""
    _vm_on_node1(stack, MIGRATE)
    return Invocation("tm", "mv", (stack.vm_dir("node1", VM), stack.vm_dir("node2", VM), "7", "101"))


def _persistent_deployed(stack: Stack) -> None:
    """Image 6 linked as disk 0 of VM 7 on node1 (as tm ln leaves it)."""
    stack.put_image(6, persistent=True, data=b"mine", template={"SP_QOSCLASS": "bronze"})
    stack.put_vm(VM, disks=[stack.b.image_disk(0, 6, persistent=True, size=16)],
                 user_template={"VC_POLICY": "daily", "SP_QOSCLASS": "gold"},
                 vm_snapshots=[stack.b.vm_snapshot(0, "ONESNAP-0-%d" % TS)])
    stack.sp.volume_update("one-img-6", tags=dict(VM_TAGS, diskid="0", type="PERS", qc="gold"))
    stack.sp.attach("one-img-6", 1)
    stack.sp.volume_snapshot("one-img-6", "one-img-6-ONESNAP-0-%d" % TS)
    _link(stack, "one-img-6", 0)


def tm_mvds(stack: Stack) -> Invocation:
    _persistent_deployed(stack)
    return Invocation("tm", "mvds", (stack.disk_path("node1", VM, 0), "one-ds-100/one-img-6", "7", "100"))


def tm_mvds_save_as(stack: Stack) -> Invocation:
    """Deferred save-as: the disk's volume becomes image 12's (a rename)."""
    _persistent_deployed(stack)
    stack.put_image(12, create_volume=False, template={"SP_QOSCLASS": "archive"})
    return Invocation("tm", "mvds", (stack.disk_path("node1", VM, 0), "one-ds-100/one-img-12", "7", "100"))


def tm_cpds(stack: Stack) -> Invocation:
    _clone_deployed(stack)
    stack.put_image(12, create_volume=False, type="DATABLOCK")
    return Invocation("tm", "cpds", (stack.disk_path("node1", VM, 0), "one-ds-100/one-img-12", "-1", "7", "100"))


def tm_delete(stack: Stack) -> Invocation:
    """A non-persistent disk with a disk snapshot and a VM snapshot oned lists."""
    b = stack.b
    _clone_deployed(stack, snapshots=[b.disk_snapshot(0)], vm_snapshots=[b.vm_snapshot(0, "ONESNAP-0-%d" % TS)])
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-ONESNAP-0-%d" % TS)
    return Invocation("tm", "delete", (stack.disk_path("node1", VM, 0), "7", "100"))


def tm_delete_dir(stack: Stack) -> Invocation:
    """The VM directory: a volatile disk with a VM snapshot, a swap disk, the context ISO, NVRAM."""
    b = stack.b
    stack.put_vm(VM, disks=[b.volatile_disk(0, 16), b.volatile_disk(1, 16, kind="swap")],
                 vm_snapshots=[b.vm_snapshot(0, "ONESNAP-0-%d" % TS)])
    for disk, name, kind in ((0, "one-sys-7-0-raw", "VOL"), (1, "one-sys-7-1-swap", "VOL"),
                             (2, "one-sys-7-2-iso", "CNTXT")):
        stack.sp.volume_create(name, size=MIB, template="one-ds-101", tags=dict(VM_TAGS, diskid=str(disk), type=kind))
        stack.sp.attach(name, 1)
        _link(stack, name, disk)
    stack.sp.volume_create("one-sys-7-NVRAM", size=MIB, tags=dict(VM_TAGS, type="NVRAM"))
    stack.sp.volume_snapshot("one-sys-7-0-raw", "one-sys-7-0-raw-ONESNAP-0-%d" % TS)
    (stack.ds_location / "101" / "7" / "checkpoint").write_bytes(b"checkpoint")
    return Invocation("tm", "delete", (stack.vm_dir("node1", VM), "7", "101"))


def _migration(action: str, after_premigrate: bool) -> Callable[[Stack], Invocation]:
    def build(stack: Stack) -> Invocation:
        xml = _vm_on_node1(stack, 4, context={"DISK_ID": "3"})
        doc = base64.b64encode(xml.encode())
        args = ("node1", "node2", "%s/101/7" % stack.ds_location, "7", "101")
        if after_premigrate:
            first = Invocation("tm", "premigrate", args, doc).run(stack)
            assert first.ok, first
        return Invocation("tm", action, args, doc)

    build.__name__ = "tm_" + action
    return build


def _snap_action(action: str, snap_id: int) -> Callable[[Stack], Invocation]:
    def build(stack: Stack) -> Invocation:
        b = stack.b
        if action == "snap_create":
            _clone_deployed(stack)
        elif action == "snap_delete":
            _clone_deployed(stack, snapshots=[b.disk_snapshot(1)])
            stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap1")
            stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap10")
        else:  # snap_revert: snapshot 0 at 16 MB holding "snapshot", then grown to 32 MB and overwritten
            _clone_deployed(stack)
            stack.write_volume("one-img-5-7-0", b"snapshot")
            stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
            stack.put_vm(VM, disks=[b.image_disk(0, 5, size=32, snapshots=[b.disk_snapshot(0, size=16)])])
            stack.sp.volume_update("one-img-5-7-0", size=32 * MIB)
            stack.write_volume("one-img-5-7-0", b"current!")
        return Invocation("tm", action, (stack.disk_path("node1", VM, 0), str(snap_id), "7", "100"))

    build.__name__ = "tm_" + action
    return build


def tm_resize(stack: Stack) -> Invocation:
    _clone_deployed(stack)
    return Invocation("tm", "resize", (stack.disk_path("node1", VM, 0), "64", "7", "100"))


# -- VM snapshots (local VMM actions) -------------------------------------------------------------------

VMM_VOLUMES = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw")
HID = "ONESNAP-0-%d" % TS


def _vmm(action: str, taken: bool) -> Callable[[Stack], Invocation]:
    """VM 7 running on node1 with three StorPool disks and a context disk; ``taken``: VM
    snapshot 0 exists (its three disk snapshots), and the disks changed since."""

    def build(stack: Stack) -> Invocation:
        b = stack.b
        stack.put_image(5)
        stack.put_image(6, persistent=True)
        stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(VM_TAGS, diskid="0", type="NPERS"))
        stack.sp.volume_update("one-img-6", tags=dict(VM_TAGS, diskid="1", type="PERS"))
        stack.sp.volume_create("one-sys-7-2-raw", size=16 * MIB, template="one-ds-101",
                               tags=dict(VM_TAGS, diskid="2", type="VOL"))
        stack.sp.volume_create("one-sys-7-3-iso", size=MIB, template="one-ds-101",
                               tags=dict(VM_TAGS, diskid="3", type="CNTXT"))
        for name in VMM_VOLUMES:
            stack.sp.attach(name, 1)
            stack.write_volume(name, b"at snapshot time: " + name.encode())
        if taken:
            stack.sp.group_snapshot([(name, "%s-%s" % (name, HID)) for name in VMM_VOLUMES], tags=VM_TAGS)
            for name in VMM_VOLUMES:
                stack.write_volume(name, b"later data of " + name.encode())
        disks = [b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16), b.volatile_disk(2, 16)]
        vm = stack.put_vm(VM, disks=disks, vm_snapshots=[b.vm_snapshot(0, HID if taken else "", time=TS, active=True)])
        doc = b.vmm_driver_action_xml(vm, host="node1", datastore=stack.system_ds_xml)
        second = HID if taken else "0"
        return Invocation("vmm", action, ("one-7", second, "7", "node1"), base64.b64encode(doc.encode()),
                          _fake_virsh(stack))

    build.__name__ = "vmm_" + action.replace("-storpool", "")
    return build


REVERTS = DELETIONS | {"VolumeRevert"}

SCENARIOS: Tuple[Scenario, ...] = (
    Scenario("ds cp", ds_cp, needs=("qemu-img",)),
    Scenario("ds mkfs", ds_mkfs, needs=("mkfs.ext4",)),
    Scenario("ds rm", ds_rm, irreversible=DELETE_ACTION),
    Scenario("ds clone", ds_clone),
    Scenario("ds snap_delete", _ds_snap("snap_delete", 1)),
    Scenario("ds snap_revert", _ds_snap("snap_revert", 0, template={"SP_QOSCLASS": "gold"}), irreversible=REVERTS),
    Scenario("ds snap_flatten", _ds_snap("snap_flatten", 0), irreversible=REVERTS),
    Scenario("tm clone", tm_clone),
    Scenario("tm ln", tm_ln),
    Scenario("tm mkimage", tm_mkimage, needs=("mkfs.ext4",)),
    Scenario("tm mkswap", tm_mkswap, needs=("mkswap",)),
    Scenario("tm context", tm_context, needs=("mkisofs",)),
    Scenario("tm mv disk", tm_mv, private_hosts=True),
    Scenario("tm mv dir", tm_mv_dir, private_hosts=True),
    Scenario("tm mvds", tm_mvds),
    Scenario("tm mvds save_as", tm_mvds_save_as),
    Scenario("tm cpds", tm_cpds),
    Scenario("tm delete disk", tm_delete, irreversible=DELETE_ACTION),
    Scenario("tm delete dir", tm_delete_dir, irreversible=DELETE_ACTION),
    Scenario("tm premigrate", _migration("premigrate", False), private_hosts=True),
    Scenario("tm postmigrate", _migration("postmigrate", True), private_hosts=True),
    Scenario("tm failmigrate", _migration("failmigrate", True), private_hosts=True),
    Scenario("tm snap_create", _snap_action("snap_create", 0)),
    Scenario("tm snap_delete", _snap_action("snap_delete", 1)),
    Scenario("tm snap_revert", _snap_action("snap_revert", 0), irreversible=REVERTS),
    Scenario("tm resize", tm_resize),
    Scenario("vmm snapshot_create", _vmm("snapshot_create-storpool", False)),
    Scenario("vmm snapshot_delete", _vmm("snapshot_delete-storpool", True)),
    Scenario("vmm snapshot_revert", _vmm("snapshot_revert-storpool", True)),
)

BY_NAME = {s.name: s for s in SCENARIOS}


def scenario_id(scenario: Scenario) -> str:
    return scenario.name.replace(" ", "-")

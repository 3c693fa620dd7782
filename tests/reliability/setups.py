"""Starting states of the datastore and VM snapshot actions, and pieces the TM ones share.

Each ``build(stack)`` lays out StorPool objects, oned documents and host files the way the
integration tests of that action do (tests/integration/test_<kind>_<action>.py) and returns
the ``Invocation`` oned would make. Builds are deterministic: run again after
``state.fresh`` they give the same state, so a recorded call sequence replays.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from onesp.sim.stack import Invocation, Stack

MIB = 1024 * 1024
VM = 7
TS = 1736100000
VM_TAGS = {"virt": "one", "nloc": "one", "nvm": "7"}


def link(stack: Stack, volume: str, disk: int, host: Optional[str] = None, ds: int = 101) -> Path:
    link = stack.local_disk(VM, disk, ds_id=ds, host=host)
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(str(stack.dev_dir / volume), link)
    return link


def vm_volumes(stack: Stack) -> None:
    """The volumes of VM 7 (images 5 and 6 registered): disk 0 a clone of image 5, disk 1
    persistent image 6, disk 2 a volatile raw disk, disk 3 its context ISO, all tagged."""
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(VM_TAGS, diskid="0", type="NPERS"))
    stack.sp.volume_update("one-img-6", tags=dict(VM_TAGS, diskid="1", type="PERS"))
    stack.sp.volume_create("one-sys-7-2-raw", size=16 * MIB, template="one-ds-101",
                           tags=dict(VM_TAGS, diskid="2", type="VOL"))
    stack.sp.volume_create("one-sys-7-3-iso", size=MIB, template="one-ds-101",
                           tags=dict(VM_TAGS, diskid="3", type="CNTXT"))


def clone_deployed(stack: Stack, snapshots: Sequence[Any] = (), size: int = 16, **vm: Any) -> None:
    """VM 7 on node1 with disk 0 a clone of image 5 (as tm clone leaves it), holding "current"."""
    b = stack.b
    stack.put_image(5, data=b"boot")
    stack.put_vm(VM, disks=[b.image_disk(0, 5, size=size, snapshots=snapshots)], **vm)
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(VM_TAGS, diskid="0", type="NPERS"))
    stack.sp.attach("one-img-5-7-0", 1)
    link(stack, "one-img-5-7-0", 0)
    stack.write_volume("one-img-5-7-0", b"current")


def fake_virsh(stack: Stack) -> Dict[str, str]:
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


def ds_snap(action: str, target: int, **image: Any) -> Callable[[Stack], Invocation]:
    def build(stack: Stack) -> Invocation:
        inv = _image_with_history(stack, target, **image)
        return Invocation("ds", action, inv.argv, inv.stdin)

    build.__name__ = "ds_" + action
    return build

# -- VM snapshots (local VMM actions) -------------------------------------------------------------------

VMM_VOLUMES = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw")
HID = "ONESNAP-0-%d" % TS


def vmm_snapshot(action: str, taken: bool) -> Callable[[Stack], Invocation]:
    """VM 7 running on node1 with three StorPool disks and a context disk; ``taken``: VM
    snapshot 0 exists (its three disk snapshots), and the disks changed since."""

    def build(stack: Stack) -> Invocation:
        b = stack.b
        stack.put_image(5)
        stack.put_image(6, persistent=True)
        vm_volumes(stack)
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
                          fake_virsh(stack))

    build.__name__ = "vmm_" + action.replace("-storpool", "")
    return build

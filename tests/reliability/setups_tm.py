"""Starting states of the transfer manager actions (see setups.py)."""

from __future__ import annotations

import base64
from typing import Any, Callable

from onesp.sim.stack import Invocation, Stack

from .setups import MIB, TS, VM, VM_TAGS, clone_deployed, link, vm_volumes


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
    """Context ISO and UEFI NVRAM (volume, and its file in the VM directory) of VM 7 deployed
    on node1; its persistent disk is still attached on the VM's earlier host node2 as well."""
    b = stack.b
    folder = stack.root / "vms" / "7"
    folder.mkdir(parents=True, exist_ok=True)
    context_sh = folder / "context.sh"
    context_sh.write_text("ETH0_IP='10.0.0.7'\nHOSTNAME='web'\n")
    nvram = folder / "OVMF_VARS.fd"
    nvram.write_bytes(b"NVRAM-VARS" + bytes(1014))
    stack.env["ONESP_OVMF_PATH"] = str(folder)
    stack.put_image(6, persistent=True)
    stack.put_vm(VM, disks=[b.image_disk(0, 6, persistent=True, size=16)], lcm_state=1,  # PROLOG: a deploy
                 history=[b.history("node2", hid=2), b.history("node1", hid=1)],
                 user_template={"T_OS_NVRAM": "storpool:template=%s" % nvram})
    stack.sp.attach("one-img-6", 1)
    stack.sp.attach("one-img-6", 2)
    link(stack, "one-img-6", 0)
    return Invocation("tm", "context", (str(context_sh), stack.disk_path("node1", VM, 1), "7", "101"))


MIGRATE = 8
NVRAM_SIZE = 4096
DEPLOYED = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw", "one-sys-7-3-iso")


def _vm_on_node1(stack: Stack, lcm_state: int, **vm: Any) -> str:
    """VM 7 (disk 0 clone of image 5, persistent disk 1, volatile disk 2, context disk 3, UEFI
    NVRAM) on node1 with node2 as its next host; its volumes attached to node1, its directory
    there with the NVRAM file the guest has written since the volume was last saved."""
    b = stack.b
    stack.put_image(5, data=b"boot-5")
    stack.put_image(6, data=b"data-6", persistent=True)
    disks = [b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16), b.volatile_disk(2, 16)]
    xml = stack.put_vm(VM, disks=disks, lcm_state=lcm_state,
                       history=(b.history("node1", hid=1), b.history("node2", hid=2)),
                       user_template={"T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"}, **vm)
    vm_volumes(stack)
    stack.sp.volume_create("one-sys-7-NVRAM", size=NVRAM_SIZE, template="one-ds-101", tags=dict(VM_TAGS, type="NVRAM"))
    stack.write_volume("one-sys-7-NVRAM", b"NVRAM-AS-SAVED")
    for disk, name in enumerate(DEPLOYED):
        stack.sp.attach(name, 1)
        made = link(stack, name, disk, host="node1")
        (made.parent / ("disk.%d.monitor" % disk)).write_text("storpool\n")
    stack.sp.attach("one-sys-7-NVRAM", 1)
    (made.parent / "vm-7_VARS.fd").write_bytes(b"NVRAM-AS-WRITTEN".ljust(NVRAM_SIZE, b"\0"))
    (made.parent / "deployment.0").write_bytes(b"<domain>vm 7</domain>")
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
    link(stack, "one-img-6", 0)


def tm_mvds(stack: Stack) -> Invocation:
    _persistent_deployed(stack)
    return Invocation("tm", "mvds", (stack.disk_path("node1", VM, 0), "one-ds-100/one-img-6", "7", "100"))


def tm_mvds_save_as(stack: Stack) -> Invocation:
    """Deferred save-as: the disk's volume becomes image 12's (a rename)."""
    _persistent_deployed(stack)
    stack.put_image(12, create_volume=False, template={"SP_QOSCLASS": "archive"})
    return Invocation("tm", "mvds", (stack.disk_path("node1", VM, 0), "one-ds-100/one-img-12", "7", "100"))


def tm_cpds(stack: Stack) -> Invocation:
    clone_deployed(stack)
    stack.put_image(12, create_volume=False, type="DATABLOCK")
    return Invocation("tm", "cpds", (stack.disk_path("node1", VM, 0), "one-ds-100/one-img-12", "-1", "7", "100"))


def tm_delete(stack: Stack) -> Invocation:
    """A non-persistent disk with a disk snapshot and a VM snapshot oned lists."""
    b = stack.b
    clone_deployed(stack, snapshots=[b.disk_snapshot(0)], vm_snapshots=[b.vm_snapshot(0, "ONESNAP-0-%d" % TS)])
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
        link(stack, name, disk)
    stack.sp.volume_create("one-sys-7-NVRAM", size=MIB, tags=dict(VM_TAGS, type="NVRAM"))
    stack.sp.volume_snapshot("one-sys-7-0-raw", "one-sys-7-0-raw-ONESNAP-0-%d" % TS)
    (stack.ds_location / "101" / "7" / "checkpoint").write_bytes(b"checkpoint")
    return Invocation("tm", "delete", (stack.vm_dir("node1", VM), "7", "101"))


def tm_migration(action: str, after_premigrate: bool) -> Callable[[Stack], Invocation]:
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


def tm_snap(action: str, snap_id: int) -> Callable[[Stack], Invocation]:
    def build(stack: Stack) -> Invocation:
        b = stack.b
        if action == "snap_create":
            clone_deployed(stack)
        elif action == "snap_delete":
            clone_deployed(stack, snapshots=[b.disk_snapshot(1)])
            stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap1")
            stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap10")
        else:  # snap_revert: snapshot 0 at 16 MB holding "snapshot", then grown to 32 MB and overwritten
            clone_deployed(stack)
            stack.write_volume("one-img-5-7-0", b"snapshot")
            stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
            stack.put_vm(VM, disks=[b.image_disk(0, 5, size=32, snapshots=[b.disk_snapshot(0, size=16)])])
            stack.sp.volume_update("one-img-5-7-0", size=32 * MIB)
            stack.write_volume("one-img-5-7-0", b"current!")
        return Invocation("tm", action, (stack.disk_path("node1", VM, 0), str(snap_id), "7", "100"))

    build.__name__ = "tm_" + action
    return build


def tm_resize(stack: Stack) -> Invocation:
    clone_deployed(stack)
    return Invocation("tm", "resize", (stack.disk_path("node1", VM, 0), "64", "7", "100"))

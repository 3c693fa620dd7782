"""Disk hot-plug on kvm for StorPool disks: the stock script, told that the disk is a block device.

The stock kvm ``attach_disk`` builds libvirt's ``<disk type=...>`` from the attaching disk's
TYPE and DISK_TYPE in the driver action. A StorPool disk is always a block device
(``disk.<n>`` links to ``/dev/storpool/<volume>``), also when oned describes it as a file
(a volatile disk on a StorPool system datastore, an image whose datastore lacks
DISK_TYPE=BLOCK). So before the stock script runs, the attaching disk of a StorPool TM gets
DISK_TYPE=BLOCK and TYPE=BLOCK (a CDROM keeps TYPE=CDROM); nothing else in the document
changes. The stock script then runs on the host with the same arguments, the rewritten
driver action in place of the fifth one (attach_disk reads it there) and as plain XML on
stdin. detach_disk gets the same treatment of its stdin document.

A CDROM with DEV_PREFIX=hd of a VM with persistent CD-ROM trays (``T_PERSISTENT_CDROM``)
is inserted into / ejected from a tray instead (``trays``); the stock script does not run.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Optional

from lxml import etree

from ...one import decode_vmm_action, parse_xml
from ...runtime.disks import is_storpool_tm
from ...runtime.errors import BadInput
from . import _document as document
from . import _stock as stock
from . import _trays as trays
from ._args import disk_args

if TYPE_CHECKING:
    from ...one import Disk, VmmDriverAction
    from ...runtime.actioncontext import Context

_ROOT = "VMM_DRIVER_ACTION_DATA"


def run(ctx: Context, action: str) -> None:
    args = disk_args(action, ctx.argv)
    with ctx.step("decode the driver action"):
        xml = document.plain_xml(args.message if args.message is not None else ctx.stdin)
        parsed = decode_vmm_action(xml) if xml else None
    if action == "attach_disk" and parsed is None:
        raise BadInput("attach_disk needs the driver action")
    host = args.host or (parsed.host if parsed is not None else None)
    if not host:
        raise BadInput("%s: no host in the arguments or the driver action" % action)
    if parsed is not None:
        disk = parsed.vm.attaching_disk
        if disk is None and action == "attach_disk":
            raise BadInput("the driver action has no disk with ATTACH=YES")
        system_tm = _system_tm(parsed)
        if disk is not None and trays.serves(disk):
            block = is_storpool_disk(disk, system_tm) or (disk.disk_type or "").upper() == "BLOCK"
            if trays.hotplug(ctx, action, host, args.domain, args.disk_path, args.target, parsed.vm, block):
                return
        if disk is not None and is_storpool_disk(disk, system_tm) and needs_block(disk):
            with ctx.step("declare disk %d of VM %d a block device" % (disk.disk_id, parsed.vm.id)):
                xml = as_block(xml)
            ctx.log.info("disk %d of VM %d (TYPE %s, DISK_TYPE %s) is attached as a block device",
                         disk.disk_id, parsed.vm.id, disk.type, disk.disk_type)
    argv = list(args.raw)
    if action == "attach_disk":
        argv[4] = base64.b64encode(xml).decode("ascii")
    stock.run(ctx, host, action, argv, xml)


def _system_tm(parsed: VmmDriverAction) -> Optional[str]:
    if parsed.datastore is not None and parsed.datastore.tm_mad:
        return parsed.datastore.tm_mad
    history = parsed.vm.current_history
    return history.tm_mad if history is not None else None


def is_storpool_disk(disk: Disk, system_tm: Optional[str]) -> bool:
    """A disk of a StorPool TM, or a volatile disk (no TM_MAD of its own) on a StorPool system datastore."""
    if disk.tm_mad:
        return is_storpool_tm(disk.tm_mad)
    return disk.is_volatile and is_storpool_tm(system_tm)


def needs_block(disk: Disk) -> bool:
    block_type = disk.is_cdrom or (disk.type or "").upper() == "BLOCK"
    return (disk.disk_type or "").upper() != "BLOCK" or not block_type


def as_block(xml: bytes) -> bytes:
    """The driver action with the attaching disk's DISK_TYPE and TYPE set to BLOCK (CDROM stays CDROM)."""
    root = parse_xml(xml, what="VMM driver action", root=_ROOT)
    for disk in root.iterfind("VM/TEMPLATE/DISK"):
        if (disk.findtext("ATTACH") or "").strip().upper() != "YES":
            continue
        _set(disk, "DISK_TYPE", "BLOCK")
        if (disk.findtext("TYPE") or "").strip().upper() not in ("CDROM", "RBD_CDROM"):
            _set(disk, "TYPE", "BLOCK")
    return etree.tostring(root, encoding="utf-8", xml_declaration=False)


def _set(parent: etree._Element, tag: str, value: str) -> None:
    node = parent.find(tag)
    if node is None:
        node = etree.SubElement(parent, tag)
    node.text = value

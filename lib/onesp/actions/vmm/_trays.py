"""Persistent CD-ROM trays: empty CD-ROM drives made at deploy, filled and emptied while the VM runs.

A guest's IDE controller (SATA on q35 machines) cannot take a new drive while the VM
runs, so a CDROM image with ``DEV_PREFIX=hd`` cannot be hot-attached. As the bash addon
did, ``T_PERSISTENT_CDROM=<n>`` (VM user template, else addon-storpoolrc; 0 turns it off)
asks for up to ``n`` empty CD-ROM drives ("trays") when the VM is deployed; attach_disk
of such a CDROM then inserts the disk into a free tray (``virsh change-media --insert``)
and detach_disk ejects it again (``--eject --force``), leaving the tray for the next
image. What tm ln/delete do with the CDROM's StorPool volume does not change.

The value is a whole number; more than ``MAX_TRAYS`` means ``MAX_TRAYS`` (the addon's
rule: one IDE controller has four places, usually one holds the context CD). Anything
else is refused with one line before any host is touched, since VM owners write it.
The domain XML libvirt hands back is parsed without entities or network access.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, List, Optional, Tuple

from lxml import etree

from ...one.xmlsafe import MAX_DOCUMENT_BYTES
from ...runtime.errors import BadInput, ConfigError, LimitReached
from ...runtime.libvirt import virsh

if TYPE_CHECKING:
    from ...one import Disk, Vm
    from ...runtime.actioncontext import Context

ATTRIBUTE = "T_PERSISTENT_CDROM"
MAX_TRAYS = 4
_COUNT = re.compile(r"\d{1,6}\Z")
_NAME = re.compile(r"(?:hd|sd|vd|xvd)([a-z]{1,3})\Z")
_ONE_NS = "http://opennebula.org/xmlns/libvirt/1.0"
_TRAY_PREFIX = "hd"


def wanted(vm: Vm, default: Optional[str]) -> int:
    """How many trays ``vm`` asks for: its ``T_PERSISTENT_CDROM``, else the configured default."""
    value = vm.t_persistent_cdrom
    if value is not None:
        if not _COUNT.match(value):
            raise BadInput("VM %d: %s must be a whole number of CD-ROM trays (0 to %d), not %r"
                           % (vm.id, ATTRIBUTE, MAX_TRAYS, value[:40]))
        return min(int(value), MAX_TRAYS)
    value = (default or "").strip()
    if not value:
        return 0
    if not _COUNT.match(value):
        raise ConfigError("%s must be a whole number of CD-ROM trays (0 to %d), not %r" % (ATTRIBUTE, MAX_TRAYS, value[:40]))
    return min(int(value), MAX_TRAYS)


def serves(disk: Disk) -> bool:
    """A disk the trays take: a CDROM with device prefix hd (the addon's rule)."""
    return bool(disk.is_cdrom) and (disk.dev_prefix or "").strip().lower() == _TRAY_PREFIX


# -- domain XML ----------------------------------------------------------------------------------
def _parse(data: bytes, what: str) -> etree._Element:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise BadInput("%s is over %d bytes" % (what, MAX_DOCUMENT_BYTES))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise BadInput("%s is not well-formed XML: %s" % (what, str(exc).splitlines()[0] if str(exc) else "")) from None
    if root.getroottree().docinfo.internalDTD is not None or next(root.iter(etree.Entity), None) is not None:
        raise BadInput("%s has a DTD or an entity reference; libvirt domains have none" % what)
    if root.tag != "domain":
        raise BadInput("%s: expected a <domain> document, got <%s>" % (what, root.tag))
    return root


def _index(name: str) -> Optional[int]:
    """The drive index libvirt derives from a target name (hda and sda are 0, hdb 1, ...)."""
    match = _NAME.match(name)
    if match is None:
        return None
    index = 0
    for letter in match.group(1):
        index = index * 26 + (ord(letter) - ord("a") + 1)
    return index - 1


def _bus(root: etree._Element) -> str:
    machine = root.find("os/type")
    return "sata" if machine is not None and "q35" in (machine.get("machine") or "") else "ide"


def _disks(root: etree._Element) -> List[etree._Element]:
    return list(root.iterfind("devices/disk"))


def _target(disk: etree._Element) -> Tuple[str, str]:
    target = disk.find("target")
    if target is None:
        return "", ""
    name = target.get("dev") or ""
    return name, target.get("bus") or ("ide" if name.startswith(_TRAY_PREFIX) else "")


def add_trays(domain: bytes, count: int) -> Tuple[bytes, List[str]]:
    """The deployment XML with up to ``count`` empty CD-ROM drives more, and their targets.

    Drives go to the free places ``hda``..``hdd`` of the IDE bus (SATA on q35): a place
    any disk of that bus takes (libvirt derives it from the target name, ``sda`` is the
    place of ``hda``) and a target name in use are skipped, so what oned put there counts
    against the four places.
    """
    root = _parse(domain, "the deployment file")
    devices = root.find("devices")
    if devices is None:
        raise BadInput("the deployment file has no <devices>")
    bus = _bus(root)
    used = set()
    names = set()
    for disk in _disks(root):
        name, disk_bus = _target(disk)
        names.add(name)
        index = _index(name)
        if disk_bus == bus and index is not None:
            used.add(index)
    added: List[str] = []
    for index in range(MAX_TRAYS):
        name = _TRAY_PREFIX + chr(ord("a") + index)
        if len(added) >= count:
            break
        if index in used or name in names:
            continue
        used.add(index)
        tray = etree.SubElement(devices, "disk", type="block", device="cdrom")
        etree.SubElement(tray, "driver", name="qemu", type="raw", cache="none", io="native")
        etree.SubElement(tray, "target", dev=name, bus=bus)
        etree.SubElement(tray, "readonly")
        tray.tail = "\n"
        added.append(name)
    if not added:
        return domain, added
    return etree.tostring(root, encoding="utf-8"), added


def system_dir(domain: bytes) -> str:
    """The VM's directory on its host, as oned wrote it into the deployment file's metadata."""
    root = _parse(domain, "the deployment file")
    node = root.find("metadata/{%s}vm/{%s}system_datastore" % (_ONE_NS, _ONE_NS))
    text = (node.text or "").strip() if node is not None else ""
    if not text.startswith("/"):
        raise BadInput("the deployment file names no system datastore directory (metadata one:system_datastore)")
    return text


def _cdroms(dumped: str) -> List[Tuple[str, str]]:
    """(target, source path or "") of each CD-ROM drive of a running domain on the tray bus names."""
    root = _parse(dumped.encode("utf-8"), "virsh dumpxml")
    found = []
    for disk in _disks(root):
        if disk.get("device") != "cdrom":
            continue
        name, _ = _target(disk)
        if not name.startswith(_TRAY_PREFIX):
            continue
        source = disk.find("source")
        path = ""
        if source is not None:
            path = source.get("dev") or source.get("file") or ""
        found.append((name, path))
    return found


def free_tray(dumped: str, preferred: str) -> Optional[str]:
    """An empty tray of the dumped domain: ``preferred`` if it is one, else the first."""
    empty = [name for name, path in _cdroms(dumped) if not path]
    if preferred in empty:
        return preferred
    return empty[0] if empty else None


def tray_holding(dumped: str, path: str) -> Optional[str]:
    """The tray whose media is ``path`` (compared by file name, which survives a system datastore move)."""
    wanted_name = posixpath.basename(path)
    for name, source in _cdroms(dumped):
        if source and posixpath.basename(source) == wanted_name:
            return name
    return None


# -- the host ------------------------------------------------------------------------------------
def hotplug(ctx: Context, action: str, host: str, domain: str, path: str, target: str, vm: Vm, block: bool) -> bool:
    """attach_disk/detach_disk of a tray CDROM (``serves``) of a VM with trays; False: not done here."""
    if wanted(vm, str(ctx.config.T_PERSISTENT_CDROM or "")) == 0:
        return False
    if action == "attach_disk":
        filled = insert(ctx, host, domain, path, target, block)
        ctx.log.info("VM %d: %s inserted into CD-ROM tray %s", vm.id, path, filled)
        return True
    tray = eject(ctx, host, domain, path)
    if tray is None:
        ctx.log.info("VM %d: no CD-ROM tray holds %s; the stock detach_disk runs", vm.id, path)
        return False
    ctx.log.info("VM %d: %s ejected from CD-ROM tray %s", vm.id, path, tray)
    return True


def dumpxml(ctx: Context, host: str, domain: str) -> str:
    with ctx.step("read the CD-ROM drives of %s on %s" % (domain, host)):
        out: str = ctx.host(host).run(virsh(ctx, "dumpxml", domain), what="virsh dumpxml %s" % domain)
        return out


def insert(ctx: Context, host: str, domain: str, path: str, preferred: str, block: bool) -> str:
    """Put ``path`` into a free tray of ``domain``; the tray's target."""
    tray = free_tray(dumpxml(ctx, host, domain), preferred)
    if tray is None:
        raise LimitReached("%s has no empty CD-ROM tray left (%s trays are made when the VM is deployed)"
                           % (domain, ATTRIBUTE))
    argv = virsh(ctx, "change-media", domain, tray, path, "--insert")
    if block:
        argv.append("--block")
    with ctx.step("insert %s into %s of %s on %s" % (posixpath.basename(path), tray, domain, host)):
        ctx.host(host).run(argv, what="virsh change-media %s %s --insert" % (domain, tray))
    return tray


def eject(ctx: Context, host: str, domain: str, path: str) -> Optional[str]:
    """Eject ``path`` from the tray holding it; the tray, or None when no tray holds it."""
    tray = tray_holding(dumpxml(ctx, host, domain), path)
    if tray is None:
        return None
    with ctx.step("eject %s from %s of %s on %s" % (posixpath.basename(path), tray, domain, host)):
        ctx.host(host).run(virsh(ctx, "change-media", domain, tray, "--eject", "--force"),
                           what="virsh change-media %s %s --eject" % (domain, tray))
    return tray

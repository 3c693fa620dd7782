"""Which StorPool volume backs a VM disk, how it is tagged, and which QoS class applies.

This is the one place that maps oned's view of a disk (``one.Disk``) onto the naming
convention, so every action (clone, delete, migrate, VM snapshots, audit) agrees on the
volume of a disk. The QoS precedence per action follows the addon's table exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional, Union

from .errors import OnespError, Unsupported
from .naming import Names
from .tagging import qos_class, vm_qos_classes

if TYPE_CHECKING:
    from ..one import Datastore, Disk, Image, Vm
    from .config import Config


@dataclass(frozen=True)
class DiskVolume:
    """The volume behind one VM disk."""

    disk_id: int
    name: str
    type_tag: str  # NPERS, NPERSRO, PERS, PERSRO, CDROM, IMMUT, VOL, VOLRO, CNTXT
    readonly: bool
    per_vm: bool  # the volume belongs to this VM (deleted with it); False: a persistent image's own volume
    base: Optional[str] = None  # the image volume a per-VM volume is cloned from

    @property
    def persistent(self) -> bool:
        return not self.per_vm


def is_storpool_tm(tm_mad: Optional[str]) -> bool:
    return bool(tm_mad) and str(tm_mad).startswith("storpool")


def image_volume(names: Names, disk: Disk) -> str:
    """The image's own volume, from the disk's SOURCE (``<px>-ds-<ds>/<px>-img-<id>``)."""
    return names.volume_from_source(disk.source)


def stored_image_volume(names: Names, image: Image, datastore: Optional[Datastore]) -> Optional[str]:
    """The StorPool volume of ``image`` when it lies on a storpool ``datastore`` with a SOURCE of
    this instance's naming; None otherwise (another driver, not imported yet, a foreign name).
    The tools that walk oned's whole image pool (audit, retag, report) ask this one question."""
    if datastore is None or not is_storpool_tm(datastore.ds_mad or datastore.tm_mad) or not image.source:
        return None
    try:
        return names.volume_from_source(image.source)
    except OnespError:
        return None


def disk_volume(names: Names, vm_id: int, disk: Disk) -> DiskVolume:
    """The volume of ``disk`` of VM ``vm_id``, as the addon names it."""
    if disk.is_volatile:
        if disk.is_swap:
            return DiskVolume(disk.disk_id, names.swap(vm_id, disk.disk_id), "VOLRO" if disk.readonly else "VOL",
                              disk.readonly, True)
        fmt = (disk.format or "raw").lower()
        return DiskVolume(disk.disk_id, names.volatile(vm_id, disk.disk_id, fmt), "VOLRO" if disk.readonly else "VOL",
                          disk.readonly, True)
    if not disk.source:
        raise Unsupported("disk %d of VM %d has neither an image SOURCE nor a volatile TYPE" % (disk.disk_id, vm_id))
    base = image_volume(names, disk)
    per_vm = names.per_vm(base, vm_id, disk.disk_id)
    if disk.is_cdrom:
        return DiskVolume(disk.disk_id, per_vm, "CDROM", True, True, base)
    if disk.is_immutable:
        return DiskVolume(disk.disk_id, per_vm, "IMMUT", True, True, base)
    if disk.clone:
        return DiskVolume(disk.disk_id, per_vm, "NPERSRO" if disk.readonly else "NPERS", disk.readonly, True, base)
    return DiskVolume(disk.disk_id, base, "PERSRO" if disk.readonly else "PERS", disk.readonly, False)


def system_on_storpool(vm: Vm, datastore: Callable[[int], Optional[Datastore]]) -> bool:
    """Whether the VM's current system datastore (``datastore(id)``, None when unknown) is on
    StorPool: then its volatile disks, context ISO and NVRAM are StorPool volumes."""
    history = vm.current_history
    if history is None:
        return False
    ds = datastore(history.ds_id)
    tm = (ds.tm_mad if ds is not None else None) or history.tm_mad
    return is_storpool_tm(tm)


def context_volume(names: Names, vm: Vm) -> Optional[DiskVolume]:
    if vm.context_disk_id is None:
        return None
    return DiskVolume(vm.context_disk_id, names.context(vm.id, vm.context_disk_id), "CNTXT", True, True)


def vm_volumes(names: Names, vm: Vm, system_on_storpool: bool, include_cdrom: bool = True,
               exclude_readonly: bool = False, include_context: bool = True) -> List[DiskVolume]:
    """Every StorPool volume of a VM: image disks on a storpool TM, plus (when the system
    datastore is StorPool) volatile disks and the context ISO."""
    volumes: List[DiskVolume] = []
    for disk in vm.disks:
        if disk.is_volatile:
            if not system_on_storpool:
                continue
        elif not is_storpool_tm(disk.tm_mad):
            continue
        volume = disk_volume(names, vm.id, disk)
        if volume.type_tag == "CDROM" and not include_cdrom:
            continue
        if exclude_readonly and volume.readonly:
            continue
        volumes.append(volume)
    context = context_volume(names, vm) if system_on_storpool and include_context else None
    if context is not None:
        volumes.append(context)
    return volumes


# -- QoS class precedence (first non-empty wins) -------------------------------------------------


def _vm_qos(vm: Vm, disk_id: Optional[int]) -> "tuple[Optional[str], Optional[str]]":
    default, per_disk = vm_qos_classes(vm.user_template.get("SP_QOSCLASS"))
    return (per_disk.get(disk_id) if disk_id is not None else None), default


def _attr(obj: Union[Image, Datastore, None], name: str = "SP_QOSCLASS") -> Optional[str]:
    return obj.template.get(name) if obj is not None else None


def qos_vm_disk(cfg: Config, vm: Vm, disk_id: Optional[int], system_ds: Optional[Datastore]) -> Optional[str]:
    """tm clone, mkimage, mkswap, restore: per-disk VM > VM > system datastore > default."""
    per_disk, vm_default = _vm_qos(vm, disk_id)
    return qos_class(per_disk, vm_default, _attr(system_ds), cfg.DEFAULT_QOSCLASS)


def qos_persistent(cfg: Config, vm: Vm, disk_id: int, image: Optional[Image], system_ds: Optional[Datastore],
                   image_ds: Optional[Datastore], cdrom: bool = False) -> Optional[str]:
    """tm ln: per-disk VM > image > VM > system DS > image DS > default (image and its DS ignored for CDROMs)."""
    per_disk, vm_default = _vm_qos(vm, disk_id)
    image_class = None if cdrom else _attr(image)
    image_ds_class = None if cdrom else _attr(image_ds)
    return qos_class(per_disk, image_class, vm_default, _attr(system_ds), image_ds_class, cfg.DEFAULT_QOSCLASS)


def qos_context(cfg: Config, vm: Vm, system_ds: Optional[Datastore]) -> Optional[str]:
    """tm context: VM > system datastore > default."""
    _, vm_default = _vm_qos(vm, None)
    return qos_class(vm_default, _attr(system_ds), cfg.DEFAULT_QOSCLASS)


def qos_image(cfg: Config, image: Optional[Image], datastore: Optional[Datastore]) -> Optional[str]:
    """ds cp, mkfs, clone, snap_revert, tm mvds: image > its datastore > default."""
    return qos_class(_attr(image), _attr(datastore), cfg.DEFAULT_QOSCLASS)


def qos_datastore(cfg: Config, datastore: Datastore) -> Optional[str]:
    """tm cpds: image datastore > default."""
    return qos_class(_attr(datastore), cfg.DEFAULT_QOSCLASS)


def qos_of(cfg: Config, vm: Vm, volume: DiskVolume, system_ds: Optional[Datastore], image: Optional[Image] = None,
           image_ds: Optional[Datastore] = None) -> Optional[str]:
    """The class the action that made ``volume`` gives it, by its type tag: ln for a persistent
    disk (``image`` and ``image_ds`` are its image and that image's datastore) and a CDROM,
    context for the context ISO and the NVRAM, clone/mkimage for the rest. ``onesp retag`` and
    ``onesp audit`` compare volumes with this."""
    if volume.type_tag in ("PERS", "PERSRO"):
        return qos_persistent(cfg, vm, volume.disk_id, image, system_ds, image_ds)
    if volume.type_tag == "CDROM":
        return qos_persistent(cfg, vm, volume.disk_id, None, system_ds, None, cdrom=True)
    if volume.type_tag in ("CNTXT", "NVRAM"):
        return qos_context(cfg, vm, system_ds)
    return qos_vm_disk(cfg, vm, volume.disk_id, system_ds)

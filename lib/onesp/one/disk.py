"""VM disks (``VM/TEMPLATE/DISK``) and disk/image snapshots (``SNAPSHOTS/SNAPSHOT``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, List, Optional, Tuple

from lxml import etree

from ..runtime.errors import NotFound
from .fields import Fields, int_list
from .template import Template


@dataclass(frozen=True)
class DiskSnapshot:
    """One snapshot of a VM disk or of a persistent image (ids are oned's, per disk)."""

    id: int
    name: Optional[str]
    parent: Optional[int]  # None for a root snapshot (oned writes -1)
    children: Tuple[int, ...]
    active: bool
    size: Optional[int]  # MB
    date: Optional[int]

    @classmethod
    def from_xml(cls, element: etree._Element, where: str) -> "DiskSnapshot":
        f = Fields(element, where)
        parent = f.opt_int("PARENT")
        return cls(
            id=f.req_int("ID"),
            name=f.opt_str("NAME"),
            parent=parent if parent is not None and parent >= 0 else None,
            children=int_list(f.raw("CHILDREN"), f.path("CHILDREN")),
            active=f.flag("ACTIVE"),
            size=f.opt_int("SIZE"),
            date=f.opt_int("DATE"),
        )


def parse_snapshot_list(element: Optional[etree._Element], where: str) -> Tuple[DiskSnapshot, ...]:
    """The ``SNAPSHOT`` children of a ``SNAPSHOTS`` element (absent -> ())."""
    if element is None:
        return ()
    return tuple(
        DiskSnapshot.from_xml(node, "%s/SNAPSHOT[%d]" % (where, index))
        for index, node in enumerate(element.findall("SNAPSHOT"), 1)
    )


def find_snapshot(snapshots: Tuple[DiskSnapshot, ...], snap_id: int, owner: str) -> DiskSnapshot:
    for snap in snapshots:
        if snap.id == snap_id:
            return snap
    raise NotFound("%s has no snapshot %d" % (owner, snap_id))


_VOLATILE_TYPES = frozenset(("FS", "SWAP"))
_CDROM_TYPES = frozenset(("CDROM", "RBD_CDROM"))


@dataclass(frozen=True)
class Disk:
    """One ``VM/TEMPLATE/DISK``: what oned copied from the image and datastore, plus state flags.

    Image disks have ``image_id``; volatile disks (TYPE fs/swap) have none and
    live on the system datastore. ``attributes`` holds every attribute raw,
    including inherited datastore/image ones the named fields do not cover.

    ``snapshots`` and ``attributes`` are read from the element on first use: a VM pool
    read for monitoring holds thousands of disks and tens of thousands of snapshots and
    needs neither (a bad snapshot record then fails only the action that reads it).
    """

    disk_id: int
    vm_id: int
    image_id: Optional[int]
    image: Optional[str]
    source: Optional[str]
    tm_mad: Optional[str]
    tm_mad_system: Optional[str]
    datastore_id: Optional[int]
    datastore: Optional[str]
    cluster_ids: Tuple[int, ...]
    size: Optional[int]  # MB
    original_size: Optional[int]  # MB, the image size
    persistent: bool
    clone: bool
    save: bool
    readonly: bool
    shareable: bool
    type: Optional[str]  # FILE, BLOCK, CDROM, RBD, fs, swap ... as oned wrote it
    disk_type: Optional[str]
    format: Optional[str]
    fs: Optional[str]
    driver: Optional[str]
    target: Optional[str]
    dev_prefix: Optional[str]
    clone_target: Optional[str]
    ln_target: Optional[str]
    sp_qosclass: Optional[str]
    attach: bool
    resize: bool
    size_prev: Optional[int]
    disk_snapshot_active: bool
    disk_snapshot_id: Optional[int]
    hotplug_save_as: Optional[int]  # id of the image a hot save-as writes into
    hotplug_save_as_active: bool
    hotplug_save_as_source: Optional[str]
    hotplug_save_as_snapshot_id: Optional[int]
    _element: etree._Element = field(repr=False, compare=False)
    _where: str = field(repr=False, compare=False)
    _snapshots_at: Optional[Tuple[etree._Element, str]] = field(repr=False, compare=False)

    @classmethod
    def from_xml(
        cls,
        element: etree._Element,
        where: str,
        vm_id: int,
        snapshots_at: Optional[Tuple[etree._Element, str]] = None,
    ) -> "Disk":
        """``snapshots_at``: the VM's ``SNAPSHOTS`` element of this disk and its path, if any."""
        f = Fields(element, where)
        cluster = f.raw("CLUSTER_ID")
        return cls(
            disk_id=f.req_int("DISK_ID"),
            vm_id=vm_id,
            image_id=f.opt_int("IMAGE_ID"),
            image=f.opt_str("IMAGE"),
            source=f.opt_str("SOURCE"),
            tm_mad=f.opt_str("TM_MAD"),
            tm_mad_system=f.opt_str("TM_MAD_SYSTEM"),
            datastore_id=f.opt_int("DATASTORE_ID"),
            datastore=f.opt_str("DATASTORE"),
            cluster_ids=int_list(cluster, f.path("CLUSTER_ID")),
            size=f.opt_int("SIZE"),
            original_size=f.opt_int("ORIGINAL_SIZE"),
            persistent=f.flag("PERSISTENT"),
            clone=f.flag("CLONE"),
            save=f.flag("SAVE"),
            readonly=f.flag("READONLY"),
            shareable=f.flag("SHAREABLE"),
            type=f.opt_str("TYPE"),
            disk_type=f.opt_str("DISK_TYPE"),
            format=f.opt_str("FORMAT"),
            fs=f.opt_str("FS"),
            driver=f.opt_str("DRIVER"),
            target=f.opt_str("TARGET"),
            dev_prefix=f.opt_str("DEV_PREFIX"),
            clone_target=f.opt_str("CLONE_TARGET"),
            ln_target=f.opt_str("LN_TARGET"),
            sp_qosclass=f.opt_str("SP_QOSCLASS"),
            attach=f.flag("ATTACH"),
            resize=f.flag("RESIZE"),
            size_prev=f.opt_int("SIZE_PREV"),
            disk_snapshot_active=f.flag("DISK_SNAPSHOT_ACTIVE"),
            disk_snapshot_id=f.opt_int("DISK_SNAPSHOT_ID"),
            hotplug_save_as=f.opt_int("HOTPLUG_SAVE_AS"),
            hotplug_save_as_active=f.flag("HOTPLUG_SAVE_AS_ACTIVE"),
            hotplug_save_as_source=f.opt_str("HOTPLUG_SAVE_AS_SOURCE"),
            hotplug_save_as_snapshot_id=f.opt_int("HOTPLUG_SAVE_AS_SNAPSHOT_ID"),
            _element=element,
            _where=where,
            _snapshots_at=snapshots_at,
        )

    @cached_property
    def snapshots(self) -> Tuple[DiskSnapshot, ...]:
        if self._snapshots_at is None:
            return ()
        return parse_snapshot_list(*self._snapshots_at)

    @cached_property
    def attributes(self) -> Template:
        return Template.from_xml(self._element, self._where)

    @property
    def id(self) -> int:
        """Alias of ``disk_id``."""
        return self.disk_id

    @property
    def is_volatile(self) -> bool:
        """A volatile (fs/swap) disk: no image, created on the system datastore."""
        if self.type is not None and self.type.upper() in _VOLATILE_TYPES:
            return True
        return self.image_id is None and self.source is None

    @property
    def is_swap(self) -> bool:
        return self.type is not None and self.type.upper() == "SWAP"

    @property
    def is_cdrom(self) -> bool:
        return self.type is not None and self.type.upper() in _CDROM_TYPES

    @property
    def is_image(self) -> bool:
        return self.image_id is not None

    @property
    def is_immutable(self) -> bool:
        """A read-only image disk used in place (CLONE=NO, SAVE=NO, READONLY=YES)."""
        return self.is_image and not self.clone and not self.save and self.readonly

    def snapshot(self, snap_id: int) -> DiskSnapshot:
        """The disk snapshot ``snap_id``; NotFound naming the disk otherwise."""
        return find_snapshot(self.snapshots, snap_id, "disk %d of VM %d" % (self.disk_id, self.vm_id))


def parse_disks(template: Optional[etree._Element], where: str, vm_id: int,
                snapshots_by_disk: Dict[int, Tuple[etree._Element, str]]) -> Tuple[Disk, ...]:
    """The ``DISK`` children of a VM template; ``snapshots_by_disk``: DISK_ID -> its ``SNAPSHOTS``
    element and path."""
    if template is None:
        return ()
    disks: List[Disk] = []
    for index, node in enumerate(template.findall("DISK"), 1):
        disk_where = "%s/DISK[%d]" % (where, index)
        disk_id = Fields(node, disk_where).req_int("DISK_ID")
        disks.append(Disk.from_xml(node, disk_where, vm_id, snapshots_by_disk.get(disk_id)))
    return tuple(disks)

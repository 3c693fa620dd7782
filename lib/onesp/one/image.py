"""The image document (``one.image.info``, ``DS_DRIVER_ACTION_DATA/IMAGE``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from lxml import etree

from .disk import DiskSnapshot, find_snapshot, parse_snapshot_list
from .fields import owner, pool_object
from .template import Template

#: IMAGE/TYPE values.
IMAGE_TYPES = {0: "OS", 1: "CDROM", 2: "DATABLOCK", 3: "KERNEL", 4: "RAMDISK", 5: "CONTEXT", 6: "BACKUP"}

#: IMAGE/STATE values.
IMAGE_STATES = {
    0: "INIT", 1: "READY", 2: "USED", 3: "DISABLED", 4: "LOCKED", 5: "ERROR", 6: "CLONE",
    7: "DELETE", 8: "USED_PERS", 9: "LOCKED_USED", 10: "LOCKED_USED_PERS",
}


@dataclass(frozen=True)
class Image:
    """An image. ``cloning_id`` and ``target_snapshot`` are None where oned writes -1.

    ``modtime`` exists from OpenNebula 7.0 on (None for 6.x documents).
    """

    id: int
    name: str
    uid: int
    gid: int
    uname: Optional[str]
    gname: Optional[str]
    type: int
    disk_type: Optional[int]
    persistent: bool
    regtime: Optional[int]
    modtime: Optional[int]
    source: Optional[str]
    path: Optional[str]
    format: Optional[str]
    fs: Optional[str]
    size: int  # MB
    state: int
    prev_state: Optional[int]
    running_vms: int
    cloning_ops: int
    cloning_id: Optional[int]
    target_snapshot: Optional[int]
    datastore_id: int
    datastore: Optional[str]
    vms: Tuple[int, ...]
    clones: Tuple[int, ...]
    snapshots: Tuple[DiskSnapshot, ...]
    backup_disk_ids: Tuple[int, ...]
    locked: bool
    template: Template

    @classmethod
    def from_xml(cls, element: etree._Element) -> "Image":
        image_id, f = pool_object(element, "IMAGE")
        return cls(
            id=image_id,
            **owner(f),
            type=f.req_int("TYPE"),
            disk_type=f.opt_int("DISK_TYPE"),
            persistent=f.flag("PERSISTENT"),
            regtime=f.opt_int("REGTIME"),
            modtime=f.opt_int("MODTIME"),
            source=f.opt_str("SOURCE"),
            path=f.opt_str("PATH"),
            format=f.opt_str("FORMAT"),
            fs=f.opt_str("FS"),
            size=f.req_int("SIZE"),
            state=f.req_int("STATE"),
            prev_state=f.opt_int("PREV_STATE"),
            running_vms=f.opt_int("RUNNING_VMS") or 0,
            cloning_ops=f.opt_int("CLONING_OPS") or 0,
            cloning_id=f.opt_id("CLONING_ID"),
            target_snapshot=f.opt_id("TARGET_SNAPSHOT"),
            datastore_id=f.req_int("DATASTORE_ID"),
            datastore=f.opt_str("DATASTORE"),
            vms=f.ids("VMS"),
            clones=f.ids("CLONES"),
            snapshots=parse_snapshot_list(f.child("SNAPSHOTS"), f.path("SNAPSHOTS")),
            backup_disk_ids=f.ids("BACKUP_DISK_IDS"),
            locked=f.child("LOCK") is not None,
            template=Template.from_xml(f.child("TEMPLATE"), f.path("TEMPLATE")),
        )

    @property
    def type_name(self) -> str:
        return IMAGE_TYPES.get(self.type, str(self.type))

    @property
    def state_name(self) -> str:
        return IMAGE_STATES.get(self.state, str(self.state))

    @property
    def is_cdrom(self) -> bool:
        return self.type == 1

    @property
    def is_save_as(self) -> bool:
        """mkfs of a disk save-as target: reserve the SOURCE only (FORMAT or legacy FSTYPE ``save_as``)."""
        legacy = self.template.text("FSTYPE")
        return self.format == "save_as" or legacy == "save_as"

    def snapshot(self, snap_id: int) -> DiskSnapshot:
        return find_snapshot(self.snapshots, snap_id, "image %d" % self.id)

    # Template attributes actions read ------------------------------------
    @property
    def md5(self) -> Optional[str]:
        return self.template.text("MD5")

    @property
    def sha1(self) -> Optional[str]:
        return self.template.text("SHA1")

    @property
    def driver(self) -> Optional[str]:
        return self.template.text("DRIVER")

    @property
    def vc_policy(self) -> Optional[str]:
        return self.template.text("VC_POLICY")

    @property
    def shareable(self) -> bool:
        return bool(self.template.get_flag("SHAREABLE"))

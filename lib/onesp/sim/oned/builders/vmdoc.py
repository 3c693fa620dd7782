"""VM documents shaped like ``one.vm.info`` in OpenNebula 7.0 (or 6.x with ``version="6.10"``).

A VM is assembled from disk specs (image, CD-ROM, volatile), optional disk
snapshots carried by the disks, history records and VM snapshots. The
TEMPLATE section of vm.xsd is a closed sequence, so only the attributes it
allows are written, in its order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from lxml import etree

from .xml import add, add_ids, add_template, owned_root, serialize, text_of

DEFAULT_TIME = 1736100000
BACKUP_CONFIG_ORDER = (
    "BACKUP_JOB_ID", "BACKUP_VOLATILE", "FS_FREEZE", "INCREMENTAL_BACKUP_ID", "INCREMENT_MODE", "KEEP_LAST",
    "LAST_BACKUP_ID", "LAST_BACKUP_SIZE", "LAST_BRIDGE", "LAST_DATASTORE_ID", "LAST_INCREMENT_ID", "MODE",
)


@dataclass(frozen=True)
class SnapshotSpec:
    id: int
    name: Optional[str] = None
    parent: int = -1
    children: Tuple[int, ...] = ()
    active: bool = False
    size: int = 1024
    date: int = DEFAULT_TIME


@dataclass(frozen=True)
class DiskSpec:
    attributes: Dict[str, str]
    snapshots: Tuple[SnapshotSpec, ...] = ()

    @property
    def disk_id(self) -> int:
        return int(self.attributes["DISK_ID"])


@dataclass(frozen=True)
class HistorySpec:
    hostname: str
    hid: int = 0
    ds_id: int = 101
    tm_mad: str = "storpool"
    vm_mad: str = "kvm"
    cid: int = 0
    action: int = 0
    stime: int = DEFAULT_TIME
    etime: int = 0


@dataclass(frozen=True)
class VmSnapshotSpec:
    snapshot_id: int
    hypervisor_id: str
    name: str = ""
    time: int = DEFAULT_TIME
    active: bool = False
    system_disk_size: int = 0


def disk_snapshot(snap_id: int, *, name: Optional[str] = None, parent: int = -1, children: Sequence[int] = (),
                  active: bool = False, size: int = 1024, date: int = DEFAULT_TIME) -> SnapshotSpec:
    """A disk snapshot (oned ids: 0, 1, 2 ... per disk); ``parent`` -1 is a root."""
    return SnapshotSpec(snap_id, name, parent, tuple(children), active, size, date)


def image_disk(disk_id: int, image_id: int, *, persistent: bool = False, source: Optional[str] = None,
               size: int = 2048, original_size: Optional[int] = None, datastore_id: int = 100,
               datastore: str = "sp-images", tm_mad: str = "storpool", type: str = "BLOCK",
               format: str = "raw", readonly: bool = False, image: Optional[str] = None,
               target: Optional[str] = None, cluster_id: Union[int, str] = 0,
               snapshots: Sequence[SnapshotSpec] = (), extra: Optional[Mapping[str, Any]] = None) -> DiskSpec:
    """A disk backed by an image: persistent (CLONE=NO, SAVE=YES) or not (CLONE=YES)."""
    attributes: Dict[str, str] = {
        "ALLOW_ORPHANS": "YES",
        "CLONE": text_of(not persistent),
        "CLONE_TARGET": "SELF",
        "CLUSTER_ID": str(cluster_id),
        "DATASTORE": datastore,
        "DATASTORE_ID": str(datastore_id),
        "DEV_PREFIX": "vd",
        "DISK_ID": str(disk_id),
        "DISK_SNAPSHOT_TOTAL_SIZE": str(sum(s.size for s in snapshots)),
        "DISK_TYPE": type if type in ("BLOCK", "FILE") else "BLOCK",
        "DRIVER": format,
        "FORMAT": format,
        "IMAGE": image or "image-%d" % image_id,
        "IMAGE_ID": str(image_id),
        "IMAGE_STATE": "8" if persistent else "2",
        "LN_TARGET": "NONE",
        "ORIGINAL_SIZE": str(original_size if original_size is not None else size),
        "READONLY": text_of(readonly),
        "SAVE": text_of(persistent),
        "SIZE": str(size),
        "SOURCE": source if source is not None else "one-ds-%d/one-img-%d" % (datastore_id, image_id),
        "TARGET": target or "vd" + "abcdefghijklmnopqrstuvwxyz"[disk_id % 26],
        "TM_MAD": tm_mad,
        "TYPE": type,
    }
    if persistent:
        attributes["PERSISTENT"] = "YES"
    attributes.update({k: text_of(v) for k, v in (extra or {}).items()})
    return DiskSpec(attributes, tuple(snapshots))


def cdrom_disk(disk_id: int, image_id: int, **kwargs: Any) -> DiskSpec:
    """A CD-ROM image disk: read-only, used in place (CLONE=NO, SAVE=NO, READONLY=YES)."""
    kwargs.setdefault("target", "hd" + "abcdefghijklmnopqrstuvwxyz"[disk_id % 26])
    spec = image_disk(disk_id, image_id, type="CDROM", readonly=True, **kwargs)
    attributes = dict(spec.attributes, CLONE="NO", SAVE="NO", DEV_PREFIX="hd", IMAGE_STATE="2")
    return DiskSpec(attributes, spec.snapshots)


def volatile_disk(disk_id: int, size: int = 1024, *, kind: str = "fs", format: str = "raw",
                  fs: Optional[str] = None, target: Optional[str] = None,
                  extra: Optional[Mapping[str, Any]] = None) -> DiskSpec:
    """A volatile disk (``kind`` fs or swap): no image, lives on the system datastore."""
    if kind not in ("fs", "swap"):
        raise ValueError("volatile disks are fs or swap, not %r" % kind)
    attributes: Dict[str, str] = {
        "CLUSTER_ID": "0",
        "DEV_PREFIX": "vd",
        "DISK_ID": str(disk_id),
        "DISK_TYPE": "FILE",
        "DRIVER": "raw",
        "FORMAT": "raw" if kind == "swap" else format,
        "SIZE": str(size),
        "TARGET": target or "vd" + "abcdefghijklmnopqrstuvwxyz"[disk_id % 26],
        "TYPE": kind,
    }
    if fs:
        attributes["FS"] = fs
    attributes.update({k: text_of(v) for k, v in (extra or {}).items()})
    return DiskSpec(attributes)


def history(hostname: str, **kwargs: Any) -> HistorySpec:
    """A placement on ``hostname`` (host id ``hid``, system datastore ``ds_id``)."""
    return HistorySpec(hostname, **kwargs)


def vm_snapshot(snapshot_id: int, hypervisor_id: str, name: str = "", **kwargs: Any) -> VmSnapshotSpec:
    """A system (whole-VM) snapshot with the id the snapshot driver printed."""
    return VmSnapshotSpec(snapshot_id, hypervisor_id, name or "snapshot-%d" % snapshot_id, **kwargs)


def _add_history(records: etree._Element, vm_id: int, seq: int, spec: HistorySpec, modern: bool) -> None:
    node = etree.SubElement(records, "HISTORY")
    for tag, value in (("OID", vm_id), ("SEQ", seq), ("HOSTNAME", spec.hostname), ("HID", spec.hid),
                       ("CID", spec.cid), ("STIME", spec.stime), ("ETIME", spec.etime)):
        add(node, tag, value, cdata=False)
    add(node, "VM_MAD", spec.vm_mad)
    add(node, "TM_MAD", spec.tm_mad)
    add(node, "DS_ID", spec.ds_id)
    if modern:
        add(node, "PLAN_ID", -1)
        add(node, "ACTION_ID", -1)
    for tag in ("PSTIME", "PETIME", "RSTIME"):
        add(node, tag, spec.stime)
    for tag in ("RETIME", "ESTIME", "EETIME"):
        add(node, tag, 0)
    add(node, "ACTION", spec.action)
    add(node, "UID", -1)
    add(node, "GID", -1)
    add(node, "REQUEST_ID", "-1", cdata=False)


def _add_snapshots(root: etree._Element, disk: DiskSpec) -> None:
    holder = etree.SubElement(root, "SNAPSHOTS")
    add(holder, "ALLOW_ORPHANS", "YES")
    add(holder, "CURRENT_BASE", -1)
    add(holder, "DISK_ID", disk.disk_id)
    add(holder, "NEXT_SNAPSHOT", max(s.id for s in disk.snapshots) + 1)
    for snap in disk.snapshots:
        add_snapshot(holder, snap, children_first=False)


def add_snapshot(holder: etree._Element, snap: SnapshotSpec, children_first: bool) -> None:
    """One ``SNAPSHOT`` of a disk or image; vm.xsd wants ACTIVE before CHILDREN, image.xsd the reverse."""
    node = etree.SubElement(holder, "SNAPSHOT")
    children = [("CHILDREN", ",".join(str(c) for c in snap.children))] if snap.children else []
    active = [("ACTIVE", "YES")] if snap.active else []
    for tag, value in (children + active if children_first else active + children):
        add(node, tag, value)
    add(node, "DATE", snap.date)
    add(node, "ID", snap.id)
    if snap.name is not None:
        add(node, "NAME", snap.name)
    add(node, "PARENT", snap.parent)
    add(node, "SIZE", snap.size)


def vm_xml(vm_id: int = 42, *, name: Optional[str] = None, uid: int = 0, gid: int = 0,
           uname: str = "oneadmin", gname: str = "oneadmin", state: int = 3, lcm_state: int = 3,
           prev_state: Optional[int] = None, prev_lcm_state: Optional[int] = None,
           deploy_id: Optional[str] = None, disks: Sequence[DiskSpec] = (),
           context: Union[bool, Mapping[str, Any]] = True,
           history: Sequence[HistorySpec] = (HistorySpec("node1", hid=1),),
           user_template: Optional[Mapping[str, Any]] = None, vm_snapshots: Sequence[VmSnapshotSpec] = (),
           backup_config: Optional[Mapping[str, Any]] = None, backup_ids: Sequence[int] = (),
           tm_mad_system: str = "storpool", memory: int = 1024, cpu: str = "1",
           tpm_model: Optional[str] = None, locked: bool = False, version: str = "7.0",
           os: Optional[Mapping[str, Any]] = None) -> str:
    """A full VM document. ``context=True`` adds a context disk with DISK_ID = number of disks."""
    modern = not version.startswith("6.")
    root = owned_root("VM", vm_id, name or "vm-%d" % vm_id, uid, gid, uname, gname)
    add(root, "LAST_POLL", DEFAULT_TIME)
    for tag, value in (("STATE", state), ("LCM_STATE", lcm_state),
                       ("PREV_STATE", state if prev_state is None else prev_state),
                       ("PREV_LCM_STATE", lcm_state if prev_lcm_state is None else prev_lcm_state),
                       ("RESCHED", 0), ("STIME", DEFAULT_TIME), ("ETIME", 0)):
        add(root, tag, value)
    add(root, "DEPLOY_ID", deploy_id if deploy_id is not None else ("one-%d" % vm_id if history else ""), cdata=False)
    if locked:
        lock = etree.SubElement(root, "LOCK")
        for tag, value in (("LOCKED", 1), ("OWNER", 0), ("TIME", DEFAULT_TIME), ("REQ_ID", -1)):
            add(lock, tag, value)
    monitoring = etree.SubElement(root, "MONITORING")
    add(monitoring, "ID", vm_id)
    add(monitoring, "TIMESTAMP", DEFAULT_TIME)
    etree.SubElement(root, "SCHED_ACTIONS")
    template = etree.SubElement(root, "TEMPLATE")
    if context:
        attributes: Dict[str, Any] = {"DISK_ID": str(len(disks)), "NETWORK": "YES", "TARGET": "hda"}
        if isinstance(context, Mapping):
            attributes.update(context)
        add_template(template, "CONTEXT", attributes)
    add(template, "CPU", cpu)
    for disk in disks:
        add_template(template, "DISK", disk.attributes)
    add(template, "MEMORY", str(memory))
    if os:
        add_template(template, "OS", dict(os))
    for snap in vm_snapshots:
        node = etree.SubElement(template, "SNAPSHOT")
        if snap.active:
            add(node, "ACTIVE", "YES")
        add(node, "HYPERVISOR_ID", snap.hypervisor_id)
        add(node, "NAME", snap.name)
        add(node, "SNAPSHOT_ID", str(snap.snapshot_id))
        add(node, "SYSTEM_DISK_SIZE", str(snap.system_disk_size))
        add(node, "TIME", str(snap.time))
    add(template, "TM_MAD_SYSTEM", tm_mad_system)
    if tpm_model:
        add(etree.SubElement(template, "TPM"), "MODEL", tpm_model)
    add(template, "VMID", str(vm_id))
    add_template(root, "USER_TEMPLATE", dict(user_template or {}))
    records = etree.SubElement(root, "HISTORY_RECORDS")
    for seq, spec in enumerate(history):
        _add_history(records, vm_id, seq, spec, modern)
    for disk in disks:
        if disk.snapshots:
            _add_snapshots(root, disk)
    backups = etree.SubElement(root, "BACKUPS")
    config = etree.SubElement(backups, "BACKUP_CONFIG")
    unknown = set(backup_config or {}) - set(BACKUP_CONFIG_ORDER)
    if unknown:
        raise ValueError("BACKUP_CONFIG does not allow %s" % ", ".join(sorted(unknown)))
    for tag in BACKUP_CONFIG_ORDER:
        if backup_config and tag in backup_config:
            add(config, tag, text_of(backup_config[tag]))
    add_ids(backups, "BACKUP_IDS", backup_ids)
    return serialize(root)

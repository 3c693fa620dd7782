"""Compare what StorPool holds with what oned accounts for (read-only).

Findings, each about one StorPool object:

orphan       a volume or snapshot of this instance (its name parses under ONE_PX, or it carries
             this instance's ``virt``/``nloc`` tags) that no image, VM disk, disk snapshot, VM
             snapshot or delayed-delete window accounts for
missing      an image or a VM disk whose volume does not exist
stale        an attachment of a VM disk's volume to a client where the VM does not run, or of
             an image volume no running VM uses
tags         a VM disk volume whose ``nvm``/``diskid`` (per-VM volumes), ``qc`` or ``vc-policy``
             tags disagree with oned (``qc`` by the precedence of the action that made it,
             ``vc-policy`` the VM's VC_POLICY): what ``onesp retag`` sets right

Objects of other instances (other prefixes and ``nloc`` values) are never considered, so a
cluster shared by several OpenNebula instances audits cleanly from each of them.

An orphan created less than AUDIT_ORPHAN_GRACE ago (StorPool's ``creationTimestamp``) is
listed as too new and never removed: an action still in flight makes objects oned records
only when it ends (a disk snapshot, a VM snapshot, an imported image). An object without a
creation time counts as new, and so does one from a StorPool clock ahead of this one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Set, Tuple

from ..runtime import disks
from ..runtime.errors import BadInput
from ..runtime.naming import Names
from ..runtime.tagging import DISK_ID_TAG, QOS_TAG, VC_POLICY_TAG

if TYPE_CHECKING:
    from ..one import Datastore, Image, Vm
    from ..runtime.config import Config
    from ..runtime.storpoolanswers import Attachment, Snapshot, Volume

#: VM states whose disks are not expected to exist (DONE) or not yet created (INIT, PENDING, HOLD).
_NO_DISKS_YET = (0, 1, 2, 6)
#: VM states whose disks are detached from every host (STOPPED, UNDEPLOYED).
_DETACHED_STATES = (4, 9)
#: LCM states in which a VM's disks are attached on the previous host too (migrations).
_MIGRATING = (4, 8, 43, 45, 60, 61)


@dataclass(frozen=True)
class Finding:
    kind: str  # orphan, missing, stale, tags
    object: str
    detail: str
    snapshot: bool = False
    client: Optional[int] = None
    age: Optional[int] = None  # seconds since StorPool created the object (orphans)
    too_new: bool = False  # an orphan inside AUDIT_ORPHAN_GRACE: listed, never removed


@dataclass
class Expected:
    volumes: Dict[str, str]  # name -> what accounts for it
    snapshots: Dict[str, str]
    disk_volumes: Dict[str, Tuple["Vm", disks.DiskVolume]]  # name -> (vm, disk volume) for tag and attachment checks
    image_volumes: Dict[str, "Image"]


def expected_objects(names: Names, vms: Iterable["Vm"], images: Iterable["Image"],
                     datastores: Dict[int, "Datastore"]) -> Expected:
    exp = Expected({}, {}, {}, {})
    for image in images:
        image_volume = disks.stored_image_volume(names, image, datastores.get(image.datastore_id))
        if image_volume is None:
            continue
        exp.volumes[image_volume] = "image %d" % image.id
        exp.image_volumes[image_volume] = image
        for snap in image.snapshots:
            exp.snapshots[names.disk_snapshot(image_volume, snap.id)] = "snapshot %d of image %d" % (snap.id, image.id)
    for vm in vms:
        if vm.state in _NO_DISKS_YET:
            continue
        for volume in disks.vm_volumes(names, vm, disks.system_on_storpool(vm, datastores.get)):
            owner = "disk %d of VM %d" % (volume.disk_id, vm.id)
            exp.volumes.setdefault(volume.name, owner)
            if volume.per_vm or volume.name not in exp.disk_volumes:
                exp.disk_volumes[volume.name] = (vm, volume)
            disk = next((d for d in vm.disks if d.disk_id == volume.disk_id), None)
            for snap in (disk.snapshots if disk is not None else ()):
                exp.snapshots[names.disk_snapshot(volume.name, snap.id)] = "snapshot %d of %s" % (snap.id, owner)
            for vmsnap in vm.vm_snapshots:
                if vmsnap.hypervisor_id:
                    exp.snapshots[names.vm_snapshot_of(volume.name, vmsnap.hypervisor_id)] = "VM snapshot %d of VM %d" % (
                        vmsnap.snapshot_id, vm.id)
    return exp


def audit(cfg: "Config", sp_volumes: List[Volume], sp_snapshots: List[Snapshot],
          attachments: List[Attachment], vms: List["Vm"], images: List["Image"], datastores: Dict[int, "Datastore"],
          client_of_host: Dict[str, int], now: int) -> List[Finding]:
    """Every finding, sorted by kind and object name (``cfg``: a resolved configuration).

    The StorPool listings are the API's JSON objects (VolumesList, SnapshotsList, AttachmentsList).
    """
    names, tags = cfg.names, cfg.tags
    exp = expected_objects(names, vms, images, datastores)
    findings: List[Finding] = []
    present: Set[str] = set()

    grace = cfg.AUDIT_ORPHAN_GRACE

    def ours(obj: Volume) -> bool:
        return names.parse(obj["name"]) is not None or tags.is_ours(obj.get("tags") or {})

    for volume in sp_volumes:
        present.add(volume["name"])
        if ours(volume) and volume["name"] not in exp.volumes:
            findings.append(orphan(volume, "volume not used by any image or VM disk", now, grace))
    for snap in sp_snapshots:
        name = snap["name"]
        if name.startswith("*") or snap.get("deleted") or snap.get("transient"):
            continue
        present.add(name)
        if not ours(snap) and not (snap.get("onVolume") not in (None, "-") and names.parse(snap["onVolume"])):
            continue
        if name in exp.snapshots:
            continue
        if (snap.get("targetDeleteDate") or 0) > now:
            continue  # a delayed delete still inside its window
        if _is_backup_of_live_vm(names, name, exp):
            continue
        findings.append(orphan(snap, "snapshot not accounted for by oned", now, grace, snapshot=True))
    for name, owner in sorted(exp.volumes.items()):
        if name not in present:
            findings.append(Finding("missing", name, "%s has no StorPool volume" % owner))
    for attachment in attachments:
        findings.extend(_attachment_findings(attachment, exp, client_of_host))
    by_name = {v["name"]: v for v in sp_volumes}
    images_by_id = {image.id: image for image in images}
    for name, (vm, disk_volume) in sorted(exp.disk_volumes.items()):
        if name in by_name:
            findings.extend(_tag_findings(cfg, by_name[name], vm, disk_volume, datastores, images_by_id))
    return sorted(findings, key=lambda f: (f.kind, f.object))


def orphan(obj: Volume, what: str, now: int, grace: int, snapshot: bool = False) -> Finding:
    """An orphan finding that says how old the object is, and whether it is too new to remove."""
    created = obj.get("creationTimestamp")
    age = now - created if isinstance(created, int) and created > 0 else None
    too_new = age is None or age < grace
    detail = "%s; created %s" % (what, "at an unknown time" if age is None else "%s ago" % _duration(max(age, 0)))
    if too_new:
        detail += "; too new to remove (AUDIT_ORPHAN_GRACE %s)" % _duration(grace)
    return Finding("orphan", obj["name"], detail, snapshot=snapshot, age=age, too_new=too_new)


def _duration(seconds: int) -> str:
    """``90s``, ``1h``, ``36h``: the largest unit that divides it, or that leaves a number of at least 10."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and (seconds % size == 0 or seconds >= 10 * size):
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _is_backup_of_live_vm(names: Names, name: str, exp: Expected) -> bool:
    if "-ONEBACKUP-" not in name:
        return False
    return name.split("-ONEBACKUP-", 1)[0] in exp.disk_volumes


def _attachment_findings(attachment: Attachment, exp: Expected, client_of_host: Dict[str, int]) -> List[Finding]:
    name, client = attachment["volume"], int(attachment["client"])
    if attachment.get("snapshot"):
        return []
    if name in exp.disk_volumes:
        vm, _ = exp.disk_volumes[name]
        running = vm.state not in _DETACHED_STATES and vm.hostname is not None
        hosts = [h.hostname for h in (vm.history[-2:] if vm.lcm_state in _MIGRATING else vm.history[-1:])]
        allowed = {client_of_host.get(h) for h in hosts} if running else set()
        if client not in allowed:
            where = "on %s" % vm.hostname if running else "not running"
            return [Finding("stale", name, "attached to client %d but VM %d is %s" % (client, vm.id, where),
                            client=client)]
    elif name in exp.image_volumes:
        return [Finding("stale", name, "image volume attached to client %d outside any VM" % client, client=client)]
    return []


def _tag_findings(cfg: "Config", volume: Volume, vm: "Vm", disk_volume: disks.DiskVolume,
                  datastores: Dict[int, "Datastore"], images: Dict[int, "Image"]) -> List[Finding]:
    from ..runtime.retagger import tag_value

    tags = cfg.tags
    have = volume.get("tags") or {}
    wrong = []
    if disk_volume.per_vm:
        if have.get(tags.vm_key) != str(vm.id):
            wrong.append("%s=%s (VM %d)" % (tags.vm_key, have.get(tags.vm_key, ""), vm.id))
        if have.get(DISK_ID_TAG) not in (None, str(disk_volume.disk_id)):
            wrong.append("%s=%s (disk %d)" % (DISK_ID_TAG, have.get(DISK_ID_TAG), disk_volume.disk_id))
    system_ds = datastores.get(vm.system_ds_id) if vm.system_ds_id is not None else None
    disk = next((d for d in vm.disks if d.disk_id == disk_volume.disk_id), None)
    image = images.get(disk.image_id) if disk is not None and disk.image_id is not None else None
    image_ds = datastores.get(disk.datastore_id) if disk is not None and disk.datastore_id is not None else None
    try:
        wanted = {QOS_TAG: tag_value(disks.qos_of(cfg, vm, disk_volume, system_ds, image, image_ds), QOS_TAG),
                  VC_POLICY_TAG: tag_value(vm.vc_policy, VC_POLICY_TAG)}
    except BadInput as exc:
        return [Finding("tags", volume["name"], "VM %d: %s" % (vm.id, exc))]
    for key, value in wanted.items():
        if have.get(key, "") != value:
            wrong.append("%s=%s (expected %s)" % (key, have.get(key, ""), value or "none"))
    return [Finding("tags", volume["name"], "; ".join(wrong))] if wrong else []


def as_dicts(findings: Iterable[Finding]) -> List[Dict[str, Any]]:
    return [asdict(f) for f in findings]

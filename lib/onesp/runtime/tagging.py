"""Every StorPool tag onesp writes or recognises: the tag keys of StorPool's OpenNebula
convention, the tags of each kind of object (``TagPolicy``, from LOC_TAG, LOC_TAG_VAL, VM_TAG),
the tag alphabet, and the QoS class a volume's ``qc`` tag takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

from .errors import BadInput
from .naming import MAX_NAME, nonneg_id

#: The tag keys every instance uses as they are (the instance and VM tag keys are configured: LOC_TAG, VM_TAG).
VIRT_TAG = "virt"
VIRT_VALUE = "one"
DISK_ID_TAG = "diskid"
TYPE_TAG = "type"
QOS_TAG = "qc"
VC_POLICY_TAG = "vc-policy"

#: Values of the ``type`` tag, as the addon writes them.
DISK_TYPES = frozenset(
    ("NPERS", "NPERSRO", "PERS", "PERSRO", "CDROM", "IMMUT", "VOL", "VOLRO", "CNTXT", "NVRAM", "SWTPM", "CHKPNT")
)
_TAG_KEY = re.compile(r"[A-Za-z0-9_\-.:]+\Z")
_TAG_VALUE = re.compile(r"[A-Za-z0-9_\-.:]*\Z")


def check_tag(key: str, value: str) -> None:
    if not _TAG_KEY.match(key or "") or len(key) > MAX_NAME:
        raise BadInput("invalid StorPool tag name %r" % (key,))
    if not isinstance(value, str) or not _TAG_VALUE.match(value) or len(value) > MAX_NAME:
        raise BadInput("invalid value %r for StorPool tag %s: allowed are letters, digits and _-.:" % (value, key))


@dataclass(frozen=True)
class TagPolicy:
    """Tag keys and the instance value, from configuration (LOC_TAG, LOC_TAG_VAL, VM_TAG)."""

    loc_key: str = "nloc"
    loc_value: str = "one"
    vm_key: str = "nvm"

    def __post_init__(self) -> None:
        check_tag(self.loc_key, self.loc_value)
        check_tag(self.vm_key, "")

    def instance(self) -> Dict[str, str]:
        """The tags every object of this instance carries."""
        return {VIRT_TAG: VIRT_VALUE, self.loc_key: self.loc_value}

    def image(self, qos_class: Optional[str], clear_empty: bool = False) -> Dict[str, str]:
        """Tags of an image's volume: the instance's and ``qc`` when a class applies (cleared
        when none does and ``clear_empty``: an existing volume loses a stale class)."""
        tags = self.instance()
        if qos_class or clear_empty:
            tags[QOS_TAG] = qos_class or ""
        return checked_tags(tags)

    def owner(self, vm_id: object, disk_id: object = None, disk_type: Optional[str] = None) -> Dict[str, str]:
        """The tags that prove a volume was made for this VM (and disk, or kind of volume):
        an earlier run's volume carrying them is adopted on a re-run."""
        tags = {self.vm_key: str(nonneg_id(vm_id, "VM id"))}
        if disk_id is not None:
            tags[DISK_ID_TAG] = str(nonneg_id(disk_id, "disk id"))
        if disk_type is not None:
            tags[TYPE_TAG] = disk_type
        return tags

    def vm_disk(
        self,
        vm_id: object,
        disk_id: object = None,
        disk_type: Optional[str] = None,
        qos_class: Optional[str] = None,
        vc_policy: Optional[str] = None,
    ) -> Dict[str, str]:
        """Tags of a volume that backs a VM disk; absent values are left out, never written empty."""
        tags = self.instance()
        tags[self.vm_key] = str(nonneg_id(vm_id, "VM id"))
        if disk_id is not None:
            tags[DISK_ID_TAG] = str(nonneg_id(disk_id, "disk id"))
        if disk_type:
            if disk_type not in DISK_TYPES:
                raise BadInput("unknown disk type tag %r" % disk_type)
            tags[TYPE_TAG] = disk_type
        if qos_class:
            tags[QOS_TAG] = qos_class
        if vc_policy:
            tags[VC_POLICY_TAG] = vc_policy
        return checked_tags(tags)

    def released(self, qos_class: Optional[str] = None) -> Dict[str, str]:
        """Tag update for a persistent image given back by its VM: VM-specific tags cleared."""
        tags = {self.vm_key: "", VC_POLICY_TAG: "", TYPE_TAG: "", DISK_ID_TAG: "", QOS_TAG: qos_class or ""}
        tags.update(self.instance())
        return checked_tags(tags)

    def vm_group(self, vm_id: object) -> Dict[str, str]:
        """Tags of group snapshots (VM snapshots, backups)."""
        tags = self.instance()
        tags[self.vm_key] = str(nonneg_id(vm_id, "VM id"))
        return tags

    def is_ours(self, tags: Mapping[str, str]) -> bool:
        return tags.get(VIRT_TAG) == VIRT_VALUE and tags.get(self.loc_key) == self.loc_value

    def is_other_instance(self, tags: Mapping[str, str]) -> bool:
        """True for an object another OpenNebula instance tagged as its own (another instance value)."""
        return tags.get(VIRT_TAG) == VIRT_VALUE and self.loc_key in tags and not self.is_ours(tags)


def checked_tags(tags: Mapping[str, str]) -> Dict[str, str]:
    """Validate every key and value against StorPool's tag alphabet (empty value = remove)."""
    for key, value in tags.items():
        check_tag(key, value)
    return dict(tags)


def qos_class(*candidates: Optional[str]) -> Optional[str]:
    """The first non-empty QoS class among ``candidates`` (ordered highest precedence first)."""
    for candidate in candidates:
        if candidate is not None and candidate.strip():
            value = candidate.strip()
            check_tag(QOS_TAG, value)
            return value
    return None


def vm_qos_classes(raw: Optional[str]) -> "tuple[Optional[str], Dict[int, str]]":
    """Split a VM's SP_QOSCLASS (``default;ID:class;ID:class``) into the VM default and per-disk entries."""
    default: Optional[str] = None
    per_disk: Dict[int, str] = {}
    for part in (raw or "").split(";"):
        part = part.strip()
        if not part:
            continue
        if ":" in part:
            disk, _, value = part.partition(":")
            per_disk[nonneg_id(disk.strip(), "disk id in SP_QOSCLASS")] = value.strip()
        else:
            default = part
    return default, per_disk

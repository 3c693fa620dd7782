"""Every StorPool name onesp uses comes from here (the tags: ``tagging``).

The convention is StorPool's OpenNebula convention, kept bit for bit so that a
deployment moving from the bash addon keeps its volumes:

===========================  ==========================================
template of datastore D      ``<px>-ds-<D>``
image I                      ``<px>-img-<I>``  (SOURCE ``<px>-ds-<D>/<px>-img-<I>``)
non-persistent disk          ``<px>-img-<I>-<VM>-<DISK>``
volatile / swap / context    ``<px>-sys-<VM>-<DISK>-raw|<fmt>|swap|iso``
UEFI NVRAM                   ``<px>-sys-<VM>-NVRAM``
vTPM state (VM snapshots)    ``<px>-sys-<VM>-SWTPM``
disk snapshot                ``<volume>-snap<SNAP>``
VM snapshot                  ``<volume>-<TAG>-<SNAP>-<unix ts>`` (TAG is ONESNAP)
import staging volume        ``<px>-img-<I>-<md5 of "<px>-img-<I>\\n">``
===========================  ==========================================

Parsing is exact: every parser is an anchored regular expression over the
whole name, so disk 1 of a VM can never be mistaken for disks 10-19, and
``xone-img-5`` of another instance never for ``one-img-5``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Pattern, Tuple

from .errors import BadInput

#: StorPool's alphabet for volume names (and names given to new snapshots).
_VOLUME_NAME = re.compile(r"[A-Za-z0-9_\-.:]+\Z")
#: Template and placement-group names: no dot, no colon.
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_\-]+\Z")
MAX_NAME = 199
_RESERVED = frozenset(("list", "status"))

def unique_token(nbytes: int = 4) -> str:
    """Random hex that keeps the names two concurrent runs make apart (temporary links,
    staging directories, helper snapshots). os.urandom, not the secrets module, which
    would put hashlib and hmac on every action's start-up path."""
    return os.urandom(nbytes).hex()


def check_volume_name(name: str) -> str:
    """Return ``name`` if StorPool accepts it as a volume or snapshot name, else raise BadInput."""
    if not isinstance(name, str) or not _VOLUME_NAME.match(name):
        raise BadInput("invalid StorPool name %r: allowed are letters, digits and _-.:" % (name,))
    if len(name) > MAX_NAME:
        raise BadInput("StorPool name too long (%d > %d characters): %s..." % (len(name), MAX_NAME, name[:40]))
    if name in _RESERVED:
        raise BadInput("%r is a reserved word, not a StorPool name" % name)
    return name


def check_template_name(name: str) -> str:
    if not isinstance(name, str) or not _TEMPLATE_NAME.match(name) or len(name) > MAX_NAME or name == "list":
        raise BadInput("invalid StorPool template name %r: allowed are letters, digits, _ and -" % (name,))
    return name


def check_prefix(prefix: str) -> str:
    """ONE_PX starts template names too, so it must fit the stricter template alphabet."""
    if not prefix or not _TEMPLATE_NAME.match(prefix) or len(prefix) > 64:
        raise BadInput("invalid ONE_PX %r: use letters, digits, _ and - (at most 64)" % (prefix,))
    return prefix


def nonneg_id(value: object, what: str) -> int:
    """Ids from oned are non-negative integers; anything else is hostile or broken input."""
    if isinstance(value, bool):
        raise BadInput("invalid %s %r" % (what, value))
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isdigit() and value.isascii() and len(value) <= 10:
        number = int(value)
    else:
        raise BadInput("invalid %s %r: expected a non-negative integer" % (what, value))
    if number < 0 or number > 2**31 - 1:
        raise BadInput("invalid %s %r: out of range" % (what, value))
    return number


@dataclass(frozen=True)
class ParsedName:
    """What a StorPool object name means in this instance's convention."""

    kind: str  # image, nonpersistent, volatile, swap, context, nvram, swtpm, checkpoint, staging, disk_snapshot, vm_snapshot
    image_id: Optional[int] = None
    vm_id: Optional[int] = None
    disk_id: Optional[int] = None
    snap_id: Optional[int] = None
    fmt: Optional[str] = None
    volume: Optional[str] = None  # for snapshots: the volume name they belong to
    timestamp: Optional[int] = None


@lru_cache(maxsize=8)
def _patterns(px: str, vmsnap_tag: str) -> Tuple[Tuple[str, Pattern[str]], ...]:
    """The anchored pattern of each kind of name, compiled once per instance prefix (the
    monitor classifies every snapshot of the datastore with them)."""
    px = re.escape(px)
    tag = re.escape(vmsnap_tag)
    vol = r"(?P<volume>%s-(?:img|sys)-[0-9A-Za-z-]+?)" % px
    patterns = (
        ("vm_snapshot", r"%s-%s-(?P<snap>\d+)-(?P<ts>\d+)" % (vol, tag)),
        ("disk_snapshot", r"%s-snap(?P<snap>\d+)" % vol),
        ("staging", r"%s-img-(?P<img>\d+)-(?P<md5>[0-9a-f]{32})" % px),
        ("nonpersistent", r"%s-img-(?P<img>\d+)-(?P<vm>\d+)-(?P<disk>\d+)" % px),
        ("image", r"%s-img-(?P<img>\d+)" % px),
        ("swap", r"%s-sys-(?P<vm>\d+)-(?P<disk>\d+)-swap" % px),
        ("context", r"%s-sys-(?P<vm>\d+)-(?P<disk>\d+)-iso" % px),
        ("volatile", r"%s-sys-(?P<vm>\d+)-(?P<disk>\d+)-(?P<fmt>[a-z0-9]+)" % px),
        ("nvram", r"%s-sys-(?P<vm>\d+)-NVRAM" % px),
        ("swtpm", r"%s-sys-(?P<vm>\d+)-SWTPM" % px),
        ("checkpoint", r"%s-sys-(?P<vm>\d+)-rawcheckpoint" % px),
        ("vm_memory", r"%s-sys-(?P<vm>\d+)" % px),
    )
    return tuple((kind, re.compile(pattern + r"\Z")) for kind, pattern in patterns)


@dataclass(frozen=True)
class Names:
    """Name builders and exact parsers for one instance prefix (ONE_PX)."""

    px: str = "one"
    vmsnap_tag: str = "ONESNAP"

    def __post_init__(self) -> None:
        check_prefix(self.px)
        check_template_name(self.vmsnap_tag)

    # -- builders --------------------------------------------------------------------------
    def template(self, ds_id: object) -> str:
        return check_template_name("%s-ds-%d" % (self.px, nonneg_id(ds_id, "datastore id")))

    def image(self, image_id: object) -> str:
        return check_volume_name("%s-img-%d" % (self.px, nonneg_id(image_id, "image id")))

    def source(self, ds_id: object, image_id: object) -> str:
        """The SOURCE string oned stores for an image (``<px>-ds-<ds>/<px>-img-<id>``)."""
        return "%s/%s" % (self.template(ds_id), self.image(image_id))

    def nonpersistent(self, image_id: object, vm_id: object, disk_id: object) -> str:
        return self.per_vm(self.image(image_id), vm_id, disk_id)

    def per_vm(self, base: str, vm_id: object, disk_id: object) -> str:
        """The per-VM copy ``<base>-<VM>-<DISK>`` of the image volume ``base`` (as named by a SOURCE)."""
        return check_volume_name(
            "%s-%d-%d" % (check_volume_name(base), nonneg_id(vm_id, "VM id"), nonneg_id(disk_id, "disk id"))
        )

    def volatile(self, vm_id: object, disk_id: object, fmt: str = "raw") -> str:
        fmt = (fmt or "raw").strip()
        if fmt == "swap" or not re.match(r"[a-z0-9]{1,16}\Z", fmt):
            raise BadInput("invalid volatile disk format %r" % fmt)
        return check_volume_name(
            "%s-sys-%d-%d-%s" % (self.px, nonneg_id(vm_id, "VM id"), nonneg_id(disk_id, "disk id"), fmt)
        )

    def swap(self, vm_id: object, disk_id: object) -> str:
        return check_volume_name(
            "%s-sys-%d-%d-swap" % (self.px, nonneg_id(vm_id, "VM id"), nonneg_id(disk_id, "disk id"))
        )

    def context(self, vm_id: object, disk_id: object) -> str:
        return check_volume_name(
            "%s-sys-%d-%d-iso" % (self.px, nonneg_id(vm_id, "VM id"), nonneg_id(disk_id, "disk id"))
        )

    def nvram(self, vm_id: object) -> str:
        return check_volume_name("%s-sys-%d-NVRAM" % (self.px, nonneg_id(vm_id, "VM id")))

    def swtpm(self, vm_id: object) -> str:
        """The vTPM state volume (a gzip tar of ``<vm dir>/tpm``), the addon's name for it."""
        return check_volume_name("%s-sys-%d-SWTPM" % (self.px, nonneg_id(vm_id, "VM id")))

    def checkpoint(self, vm_id: object) -> str:
        """The memory checkpoint volume (SP_CHECKPOINT), the name of the addon's block-device form."""
        return check_volume_name("%s-sys-%d-rawcheckpoint" % (self.px, nonneg_id(vm_id, "VM id")))

    def vm_memory(self, vm_id: object) -> str:
        """The memory of a VM snapshot (VMSNAPSHOT_WITH_CHECKPOINT), the addon's name for it."""
        return check_volume_name("%s-sys-%d" % (self.px, nonneg_id(vm_id, "VM id")))

    def staging(self, image_id: object) -> str:
        """Import staging volume; the md5 suffix is the addon's, so its leftovers are recognised too."""
        import hashlib  # only here: keeps it off every action's start-up path

        base = self.image(image_id)
        digest = hashlib.md5((base + "\n").encode("ascii")).hexdigest()  # noqa: S324 - a name, not security
        return check_volume_name("%s-%s" % (base, digest))

    def disk_snapshot(self, volume: str, snap_id: object) -> str:
        return check_volume_name("%s-snap%d" % (check_volume_name(volume), nonneg_id(snap_id, "snapshot id")))

    def vm_snapshot(self, volume: str, snap_id: object, timestamp: object) -> str:
        return check_volume_name("%s-%s" % (check_volume_name(volume), self.vm_snapshot_id(snap_id, timestamp)))

    def vm_snapshot_of(self, volume: str, hypervisor_id: str) -> str:
        """The snapshot of ``volume`` in the VM snapshot oned knows as ``hypervisor_id``, unchecked:
        the audit only looks such names up, so a malformed id just finds nothing."""
        return "%s-%s" % (volume, hypervisor_id)

    def vm_snapshot_id(self, snap_id: object, timestamp: object) -> str:
        """The HYPERVISOR_ID oned stores for a VM snapshot: ``ONESNAP-<id>-<ts>``."""
        return "%s-%d-%d" % (self.vmsnap_tag, nonneg_id(snap_id, "snapshot id"), nonneg_id(timestamp, "timestamp"))

    def parse_vm_snapshot_id(self, hypervisor_id: str) -> "tuple[int, int]":
        match = re.match(r"%s-(\d+)-(\d+)\Z" % re.escape(self.vmsnap_tag), hypervisor_id or "")
        if not match:
            raise BadInput("invalid VM snapshot id %r (expected %s-<id>-<timestamp>)" % (hypervisor_id, self.vmsnap_tag))
        return int(match.group(1)), int(match.group(2))

    def temporary(self, volume: str, purpose: str, token: str) -> str:
        """A short-lived helper object next to ``volume`` (revert, restore, export)."""
        return check_volume_name("%s-%s-%s" % (check_volume_name(volume), purpose, token))

    # -- SOURCE --------------------------------------------------------------------------------
    def volume_from_source(self, source: Optional[str]) -> str:
        """The volume named by an image SOURCE: its last path component, validated.

        Accepts ``<px>-ds-<ds>/<px>-img-<id>`` (the addon's form), a bare volume name, and a
        ``host:`` prefix as oned adds it to TM arguments.
        """
        if not source or not isinstance(source, str):
            raise BadInput("empty image SOURCE")
        if ":" in source.split("/", 1)[0] and "/" in source:
            source = source.split(":", 1)[1]
        return check_volume_name(source.rstrip("/").rsplit("/", 1)[-1])

    # -- parsers -------------------------------------------------------------------------------
    def parse(self, name: str) -> Optional[ParsedName]:
        """Classify ``name``; None when it is not an object of this instance's convention."""
        for kind, pattern in _patterns(self.px, self.vmsnap_tag):
            match = pattern.match(name)
            if not match:
                continue
            groups = match.groupdict()
            if kind in ("vm_snapshot", "disk_snapshot"):
                inner = self.parse(groups["volume"])
                if inner is None or inner.kind in ("vm_snapshot", "disk_snapshot", "staging"):
                    continue
                return ParsedName(
                    kind=kind,
                    image_id=inner.image_id,
                    vm_id=inner.vm_id,
                    disk_id=inner.disk_id,
                    fmt=inner.fmt,
                    snap_id=int(groups["snap"]),
                    volume=groups["volume"],
                    timestamp=int(groups["ts"]) if groups.get("ts") else None,
                )
            if kind == "staging" and groups["md5"] != self.staging(int(groups["img"])).rsplit("-", 1)[1]:
                continue
            return ParsedName(
                kind=kind,
                image_id=int(groups["img"]) if groups.get("img") else None,
                vm_id=int(groups["vm"]) if groups.get("vm") else None,
                disk_id=int(groups["disk"]) if groups.get("disk") else None,
                fmt=groups.get("fmt"),
            )
        return None

    @staticmethod
    def split_disk_snapshot(name: str) -> Optional[Tuple[str, int]]:
        """(volume, snapshot id) when ``name`` has the shape ``<volume>-snap<N>``, else None.

        One split, no classification: the monitor runs it over every snapshot of a datastore
        and then checks the volume against the set ``has_disk_snapshots`` accepted."""
        volume, sep, number = name.rpartition("-snap")
        if sep and number.isdecimal() and number.isascii():
            return volume, int(number)
        return None

    def may_be_vm_snapshot(self, name: str) -> bool:
        """False when ``name`` cannot be a VM snapshot's (it holds no ``-<tag>-``): one
        substring test, for the monitor to classify only the names that pass it."""
        return "-%s-" % self.vmsnap_tag in name

    def has_disk_snapshots(self, volume: str) -> bool:
        """True if ``<volume>-snap<N>`` is a disk snapshot of ``volume`` in this convention."""
        parsed = self.parse(volume + "-snap0")
        return parsed is not None and parsed.kind == "disk_snapshot" and parsed.volume == volume


_DELAY = re.compile(r"(\d+)([smhd]?)\Z")
_DELAY_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_delay(text: str) -> int:
    """DELAY_DELETE / deleteAfter: ``<n>[smhd]`` in seconds; empty means 0 (delete at once)."""
    text = (text or "").strip()
    if not text:
        return 0
    match = _DELAY.match(text)
    if not match:
        raise ValueError("expected <number>[s|m|h|d], got %r" % text)
    return int(match.group(1)) * _DELAY_UNITS[match.group(2)]

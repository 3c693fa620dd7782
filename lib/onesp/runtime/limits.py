"""Per-disk IOPS and bandwidth limits kept by StorPool itself (datastore opt-in SP_DISK_LIMITS).

OpenNebula copies a disk's I/O limits into the VM's ``DISK`` (``TOTAL_IOPS_SEC``,
``TOTAL_BYTES_SEC``, ...) and libvirt enforces them on the host. With ``SP_DISK_LIMITS`` on
(the datastore of the disk, or addon-storpoolrc), the volume behind the disk carries the
same limits in StorPool, as StorPool's CloudStack plugin does with a volume's IOPS, so they
hold for every host the volume is attached to and for anything reading it outside the VM.

What StorPool can express (API ``VolumeCreate``/``VolumeUpdate`` fields ``iops``, ``bw``,
``limitType``): one IOPS limit and one bandwidth limit per volume, for reads and writes
together, bandwidth in KiB/s (the bindings' "KB"; the CLI's ``bw 0.12M`` reads back as
123 KiB), each a non-negative integer or ``"-"`` for none, ``limitType: "total"`` for the
whole volume. So:

* ``TOTAL_IOPS_SEC`` -> ``iops``; ``TOTAL_BYTES_SEC`` -> ``bw`` = bytes / 1024, which must divide.
* 0 or absent -> ``"-"`` (libvirt reads 0 as "no limit" too). The disk's attributes define
  the volume's limits entirely: a datastore that opts in gets no limit from its template.
* ``READ_*``/``WRITE_*`` limits, bursts (``*_MAX``, ``*_MAX_LENGTH``) and ``SIZE_IOPS_SEC``
  have no StorPool form: the action fails with one line before it changes anything.

Where they apply: set on create (one ``VolumeCreate`` carrying them) by tm clone, ln,
mkimage, mkswap; set on the persistent image volume by tm ln (in its tag update); sent
again with the new size by tm resize (the same ``VolumeUpdate``); untouched by migration
and revert (``VolumeRevert`` keeps the volume, and its policy, in place); cleared when the
volume stops being a VM disk: save-as (tm cpds) and give-back (tm mvds, tm delete) — the
limits are the disk's, never the image's: the next disk made from that image gets its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, TypedDict, Union

from .errors import Unsupported

if TYPE_CHECKING:
    from ..one import Disk
    from .config import Config
    from .storpoolanswers import Template, Volume

KIB = 1024
#: A signed 64-bit integer: the largest value a JSON integer field can be trusted to carry.
MAX_VALUE = 2**63 - 1
#: Limits OpenNebula knows that StorPool has no field for (prefix match on the attribute name).
INEXPRESSIBLE = ("READ_IOPS_SEC", "WRITE_IOPS_SEC", "READ_BYTES_SEC", "WRITE_BYTES_SEC", "SIZE_IOPS_SEC",
                 "TOTAL_IOPS_SEC_MAX", "TOTAL_BYTES_SEC_MAX")

Limit = Union[int, str]


class LimitArgs(TypedDict, total=False):
    """Keyword arguments of ``StorPool.volume_create``/``volume_update`` that set a volume's limits
    (empty: the call leaves them alone)."""

    iops: Limit
    bw: Limit
    limit_type: str


@dataclass(frozen=True)
class DiskLimits:
    """The StorPool limits of one volume: None is no limit."""

    iops: Optional[int] = None
    bw_kib: Optional[int] = None

    def kwargs(self) -> LimitArgs:
        """Keyword arguments of ``StorPool.volume_create``/``volume_update``."""
        return {"iops": "-" if self.iops is None else self.iops, "bw": "-" if self.bw_kib is None else self.bw_kib,
                "limit_type": "total"}

    def describe(self) -> str:
        return "iops %s, bw %s" % (self.iops if self.iops is not None else "-",
                                   "%d KiB/s" % self.bw_kib if self.bw_kib is not None else "-")


#: What a volume that stops being a VM disk gets (save-as copy, given back to its image).
NONE = DiskLimits()


def enabled(cfg: Config) -> bool:
    return cfg.SP_DISK_LIMITS


def for_disk(cfg: Config, disk: Disk) -> Optional[DiskLimits]:
    """The limits of ``disk``'s volume, or None when its datastore does not opt in.

    Raises Unsupported (one line naming the attribute) for a limit StorPool cannot express.
    """
    if not enabled(cfg):
        return None
    attributes = disk.attributes
    what = "disk %d of VM %d" % (disk.disk_id, disk.vm_id)
    for name in sorted(attributes):
        if name.startswith(INEXPRESSIBLE) and str(attributes.text(name) or "").strip() not in ("", "0"):
            raise Unsupported("%s: %s has no StorPool form (StorPool limits a volume's total IOPS and bandwidth "
                              "only); use TOTAL_IOPS_SEC and TOTAL_BYTES_SEC, or turn SP_DISK_LIMITS off" % (what, name))
    iops = _number(attributes.text("TOTAL_IOPS_SEC"), "TOTAL_IOPS_SEC", what)
    size = _number(attributes.text("TOTAL_BYTES_SEC"), "TOTAL_BYTES_SEC", what)
    if size is not None and size % KIB:
        raise Unsupported("%s: TOTAL_BYTES_SEC %d is not a whole number of KiB/s, StorPool's bandwidth unit "
                          "(use a multiple of 1024)" % (what, size))
    return DiskLimits(iops, size // KIB if size is not None else None)


def _number(raw: Optional[str], name: str, what: str) -> Optional[int]:
    text = str(raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise Unsupported("%s: %s %r is not a whole non-negative number; StorPool takes whole numbers only"
                          % (what, name, text[:40]))
    value = int(text)
    if value > MAX_VALUE:
        raise Unsupported("%s: %s %s is out of range (at most %d)" % (what, name, text[:40], MAX_VALUE))
    return value or None


def check_template(template: Template) -> "tuple[str, str, str]":
    """(status, detail, fix) for ``onesp doctor``: the StorPool template of a datastore that opts in.

    Its volumes take their limits from their disks, so limits of the template's own would
    be replaced on every disk (and a ``perGiB`` template would read a disk's totals per GiB
    on the volumes made before the opt-in).
    """
    name = str(template.get("name") or "")
    own = ["%s %s" % (key, template.get(key)) for key in ("iops", "bw") if template.get(key) not in (None, "-")]
    if template.get("limitType") == "perGiB":
        own.append("limitType perGiB")
    if not own:
        return "ok", "SP_DISK_LIMITS: disks set their volumes' iops and bw; template %s sets none" % name, ""
    return ("warn", "SP_DISK_LIMITS: disks set their volumes' limits, but template %s has %s, which each disk "
            "replaces" % (name, ", ".join(own)),
            "storpool template %s iops - bw - limitType total, or turn SP_DISK_LIMITS off for this datastore" % name)


def current(volume: Volume) -> LimitArgs:
    """A volume summary's limits, as keyword arguments that put them back (undo)."""
    return {"iops": volume.get("iops", "-"), "bw": volume.get("bw", "-"),
            "limit_type": volume.get("limitType") or "total"}

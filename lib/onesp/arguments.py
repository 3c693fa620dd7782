"""The argument forms oned uses to call drivers, parsed into typed values.

DS actions: ``<id>`` with the base64 driver action on stdin (6.8+), or
``<base64> <id>`` (6.6 and older), or ``- <id>`` with stdin. TM actions:
positional arguments per action (reference table "Action signatures"), with
``host:path`` split at the first colon and the path normalised.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

from .errors import BadInput
from .host import check_host, check_path

_ID = re.compile(r"[0-9]{1,10}\Z")  # ASCII only: \d also matches other scripts' digits, int() reads them


def parse_id(text: str, what: str) -> int:
    if not isinstance(text, str) or not _ID.match(text) or int(text) > 2**31 - 1:
        raise BadInput("invalid %s %r: expected a non-negative integer" % (what, text))
    return int(text)


@dataclass(frozen=True)
class HostPath:
    """A ``host:path`` argument."""

    host: str
    path: str

    @classmethod
    def parse(cls, text: str, what: str = "argument") -> "HostPath":
        if not isinstance(text, str) or ":" not in text:
            raise BadInput("invalid %s %r: expected host:path" % (what, text))
        host, _, path = text.partition(":")
        return cls(check_host(host), check_path(path))

    def __str__(self) -> str:
        return "%s:%s" % (self.host, self.path)

    @property
    def disk_id(self) -> Optional[int]:
        """N when the path ends in ``disk.N``, else None (a VM directory)."""
        match = re.search(r"/disk\.([0-9]+)\Z", self.path)
        return int(match.group(1)) if match else None

    @property
    def is_disk(self) -> bool:
        return self.disk_id is not None

    @property
    def vm_dir(self) -> str:
        """The VM directory: the path itself, or its parent for a disk path."""
        return posixpath.dirname(self.path) if self.is_disk else self.path

    @property
    def system_ds_id(self) -> Optional[int]:
        """The system datastore id from ``.../<dsid>/<vmid>[/disk.N]``."""
        parts = self.vm_dir.rstrip("/").split("/")
        if len(parts) >= 2 and re.match(r"[0-9]+\Z", parts[-2]):
            return parse_id(parts[-2], "system datastore id in %s" % self.path)
        return None


@dataclass(frozen=True)
class TmArgs:
    """The arguments of one TM action; fields an action does not take stay None."""

    action: str
    vm_id: int
    ds_id: Optional[int] = None
    src: Optional[HostPath] = None
    dst: Optional[HostPath] = None
    source: Optional[str] = None  # bare image SOURCE (mvds, cpds)
    size_mb: Optional[int] = None
    fmt: Optional[str] = None
    snap_id: Optional[int] = None
    files: Tuple[str, ...] = ()
    src_host: Optional[str] = None
    dst_host: Optional[str] = None
    vm_dir: Optional[str] = None
    calling_tm: Optional[str] = None
    disk_ids: Tuple[int, ...] = ()
    deploy_id: Optional[str] = None
    job_id: Optional[str] = None
    image_id: Optional[int] = None
    increment_id: Optional[int] = None
    disk_id: Optional[int] = None


def _size(text: str) -> int:
    return parse_id(text, "size in MB")


def _fmt(text: str) -> str:
    if not re.match(r"[A-Za-z0-9_]{1,16}\Z", text or ""):
        raise BadInput("invalid disk format %r" % (text,))
    return text.lower()


def _snap(text: str) -> int:
    if text == "-1":
        return -1
    return parse_id(text, "snapshot id")


def _src_dst(a: Sequence[str]) -> Dict[str, object]:
    return {"src": HostPath.parse(a[0], "source"), "dst": HostPath.parse(a[1], "destination"),
            "vm_id": parse_id(a[2], "VM id"), "ds_id": parse_id(a[3], "datastore id")}


def _image_to_disk(a: Sequence[str]) -> Dict[str, object]:
    """clone/ln: ``fe:SOURCE`` (SOURCE is the image's, not a path) then ``host:path`` of the disk."""
    host, sep, source = a[0].partition(":")
    if not sep:
        raise BadInput("invalid source %r: expected <front-end>:<SOURCE>" % (a[0],))
    return {"src_host": check_host(host), "source": _source(source), "dst": HostPath.parse(a[1], "destination"),
            "vm_id": parse_id(a[2], "VM id"), "ds_id": parse_id(a[3], "datastore id")}


def _disk_snap(a: Sequence[str]) -> Dict[str, object]:
    return {"dst": HostPath.parse(a[0], "disk"), "snap_id": _snap(a[1]), "vm_id": parse_id(a[2], "VM id"),
            "ds_id": parse_id(a[3], "datastore id")}


def _migrate(a: Sequence[str]) -> Dict[str, object]:
    return {"src_host": check_host(a[0]), "dst_host": check_host(a[1]), "vm_dir": check_path(a[2]),
            "vm_id": parse_id(a[3], "VM id"), "ds_id": parse_id(a[4], "datastore id"),
            "calling_tm": _tm_name(a[5]) if len(a) > 5 and a[5] else None}


def _backup(a: Sequence[str]) -> Dict[str, object]:
    disks = tuple(parse_id(d, "disk id") for d in a[1].split(":") if d != "")
    job = a[3] if len(a) > 5 else None
    vm, ds = (a[4], a[5]) if len(a) > 5 else (a[3], a[4])
    return {"dst": HostPath.parse(a[0], "VM directory"), "disk_ids": disks, "deploy_id": _deploy_id(a[2]),
            "job_id": job, "vm_id": parse_id(vm, "VM id"), "ds_id": parse_id(ds, "datastore id")}


def _tm_name(text: str) -> str:
    if not re.match(r"[a-z0-9_\-]{1,32}\Z", text):
        raise BadInput("invalid TM_MAD name %r" % (text,))
    return text


def _deploy_id(text: str) -> str:
    if not re.match(r"[A-Za-z0-9_.\-]{1,128}\Z", text):
        raise BadInput("invalid deploy id %r" % (text,))
    return text


def _source(text: str) -> str:
    if not re.match(r"[A-Za-z0-9_.:\-/]{1,400}\Z", text or ""):
        raise BadInput("invalid image SOURCE %r" % (text,))
    return text


def _context(a: Sequence[str]) -> Dict[str, object]:
    if len(a) < 3:
        raise BadInput("context needs at least host:path, VM id and datastore id")
    files = tuple(a[:-3])
    for f in files:
        if any(ord(c) < 32 for c in f) or not f:
            raise BadInput("invalid context file %r" % (f,))
    return {"files": files, "dst": HostPath.parse(a[-3], "destination"), "vm_id": parse_id(a[-2], "VM id"),
            "ds_id": parse_id(a[-1], "datastore id")}


#: action -> (minimum, maximum argument count, parser)
_SIGNATURES = {
    "clone": (4, 4, _image_to_disk),
    "ln": (4, 4, _image_to_disk),
    "mv": (4, 4, _src_dst),
    "mkswap": (4, 4, lambda a: {"size_mb": _size(a[0]), "dst": HostPath.parse(a[1], "destination"),
                                "vm_id": parse_id(a[2], "VM id"), "ds_id": parse_id(a[3], "datastore id")}),
    "mkimage": (5, 5, lambda a: {"size_mb": _size(a[0]), "fmt": _fmt(a[1]), "dst": HostPath.parse(a[2], "destination"),
                                 "vm_id": parse_id(a[3], "VM id"), "ds_id": parse_id(a[4], "datastore id")}),
    "context": (3, 10000, _context),
    "mvds": (4, 4, lambda a: {"src": HostPath.parse(a[0], "disk"), "source": _source(a[1]),
                              "vm_id": parse_id(a[2], "VM id"), "ds_id": parse_id(a[3], "datastore id")}),
    "cpds": (5, 5, lambda a: {"src": HostPath.parse(a[0], "disk"), "source": _source(a[1]), "snap_id": _snap(a[2]),
                              "vm_id": parse_id(a[3], "VM id"), "ds_id": parse_id(a[4], "datastore id")}),
    "delete": (3, 3, lambda a: {"dst": HostPath.parse(a[0], "path"), "vm_id": parse_id(a[1], "VM id"),
                                "ds_id": parse_id(a[2], "datastore id")}),
    "snap_create": (4, 4, _disk_snap),
    "snap_create_live": (4, 4, _disk_snap),
    "snap_delete": (4, 4, _disk_snap),
    "snap_revert": (4, 4, _disk_snap),
    "resize": (4, 4, lambda a: {"dst": HostPath.parse(a[0], "disk"), "size_mb": _size(a[1]),
                                "vm_id": parse_id(a[2], "VM id"), "ds_id": parse_id(a[3], "datastore id")}),
    "premigrate": (5, 6, _migrate),
    "postmigrate": (5, 6, _migrate),
    "failmigrate": (5, 6, _migrate),
    "prebackup": (5, 6, _backup),
    "prebackup_live": (5, 6, _backup),
    "postbackup": (5, 6, _backup),
    "postbackup_live": (5, 6, _backup),
    "restore": (5, 5, lambda a: {"dst": HostPath.parse(a[0], "VM directory"), "vm_id": parse_id(a[1], "VM id"),
                                 "image_id": parse_id(a[2], "backup image id"),
                                 "increment_id": parse_id(a[3], "increment id") if a[3] != "-1" else -1,
                                 "disk_id": parse_id(a[4], "disk id") if a[4] != "-1" else -1}),
}


def tm_args(action: str, argv: Sequence[str]) -> TmArgs:
    """Parse the positional arguments oned gives TM ``action`` (``.SYS`` suffix already removed)."""
    if action not in _SIGNATURES:
        raise BadInput("unknown TM action %r" % action)
    low, high, parser = _SIGNATURES[action]
    if not low <= len(argv) <= high:
        expected = str(low) if low == high else "%d to %d" % (low, high)
        raise BadInput("%s takes %s arguments, got %d" % (action, expected, len(argv)))
    fields = parser(list(argv))
    return TmArgs(action=action, **fields)  # type: ignore[arg-type]


def ds_args(argv: Sequence[str], stdin: bytes) -> "tuple[int, bytes]":
    """(object id, base64 driver action) from any of the DS argument forms."""
    if len(argv) == 1:
        return parse_id(argv[0], "id"), stdin
    if len(argv) == 2:
        if argv[0] == "-":
            return parse_id(argv[1], "id"), stdin
        return parse_id(argv[1], "id"), argv[0].encode("ascii", "replace")
    raise BadInput("expected <id> with the driver action on stdin, or <driver action> <id>; got %d arguments" % len(argv))

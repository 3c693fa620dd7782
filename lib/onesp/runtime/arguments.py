"""The argument forms oned uses to call drivers, parsed into typed values.

DS actions: ``<id>`` with the base64 driver action on stdin (6.8+), or
``<base64> <id>`` (6.6 and older), or ``- <id>`` with stdin. TM actions take
positional arguments per action: each action module declares its own record of them
(``Args``, next to its ``run``) and parses it with the field parsers here, so a field
means and checks the same in every action: ``host:path`` split at the first colon and
the path normalised, ids, sizes, formats, snapshot ids, SOURCE names.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from .errors import BadInput
from .hostexec import check_host, check_path

_ID = re.compile(r"[0-9]{1,10}\Z")  # ASCII only: \d also matches other scripts' digits, int() reads them
# Compiled at import: an action in a server's worker would otherwise compile them again each time.
_DISK_PATH = re.compile(r"/disk\.([0-9]+)\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
_FORMAT = re.compile(r"[A-Za-z0-9_]{1,16}\Z")
_TM_NAME = re.compile(r"[a-z0-9_\-]{1,32}\Z")
_DEPLOY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}\Z")
_SOURCE = re.compile(r"[A-Za-z0-9_.:\-/]{1,400}\Z")


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
        match = _DISK_PATH.search(self.path)
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
        if len(parts) >= 2 and _DIGITS.match(parts[-2]):
            return parse_id(parts[-2], "system datastore id in %s" % self.path)
        return None


@dataclass(frozen=True)
class FrontEndSource:
    """clone/ln's ``<fe>:<SOURCE>``: the front-end, then the image's SOURCE (not a path)."""

    host: str
    source: str

    @classmethod
    def parse(cls, text: str) -> "FrontEndSource":
        host, sep, source = text.partition(":")
        if not sep:
            raise BadInput("invalid source %r: expected <front-end>:<SOURCE>" % (text,))
        return cls(check_host(host), image_source(source))


def arity(action: str, argv: Sequence[str], low: int, high: Optional[int] = None) -> List[str]:
    """``argv`` as a list once its length is within ``low`` to ``high`` (just ``low`` when omitted)."""
    high = low if high is None else high
    if not low <= len(argv) <= high:
        expected = str(low) if low == high else "%d to %d" % (low, high)
        raise BadInput("%s takes %s arguments, got %d" % (action, expected, len(argv)))
    return list(argv)


def vm_id(text: str) -> int:
    return parse_id(text, "VM id")


def ds_id(text: str) -> int:
    return parse_id(text, "datastore id")


def size_mb(text: str) -> int:
    return parse_id(text, "size in MB")


def disk_format(text: str) -> str:
    if not _FORMAT.match(text or ""):
        raise BadInput("invalid disk format %r" % (text,))
    return text.lower()


def snap_id(text: str) -> int:
    """A disk snapshot id, or -1 (cpds: the disk's current state)."""
    if text == "-1":
        return -1
    return parse_id(text, "snapshot id")


def id_or_all(text: str, what: str) -> int:
    """An id, or -1 for all of them (restore's increment and disk)."""
    return parse_id(text, what) if text != "-1" else -1


def disk_ids(text: str) -> Tuple[int, ...]:
    """The ``a:b:c`` disk id list of the backup actions."""
    return tuple(parse_id(d, "disk id") for d in text.split(":") if d != "")


def tm_name(text: str) -> str:
    if not _TM_NAME.match(text):
        raise BadInput("invalid TM_MAD name %r" % (text,))
    return text


def deploy_id(text: str) -> str:
    if not _DEPLOY_ID.match(text):
        raise BadInput("invalid deploy id %r" % (text,))
    return text


def image_source(text: str) -> str:
    if not _SOURCE.match(text or ""):
        raise BadInput("invalid image SOURCE %r" % (text,))
    return text


def context_file(text: str) -> str:
    if any(ord(c) < 32 for c in text) or not text:
        raise BadInput("invalid context file %r" % (text,))
    return text


def ds_args(argv: Sequence[str], stdin: bytes) -> "tuple[int, bytes]":
    """(object id, base64 driver action) from any of the DS argument forms."""
    if len(argv) == 1:
        return parse_id(argv[0], "id"), stdin
    if len(argv) == 2:
        if argv[0] == "-":
            return parse_id(argv[1], "id"), stdin
        return parse_id(argv[1], "id"), argv[0].encode("ascii", "replace")
    raise BadInput("expected <id> with the driver action on stdin, or <driver action> <id>; got %d arguments" % len(argv))

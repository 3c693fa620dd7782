"""The records the emulator keeps: volumes/snapshots, attachments, templates, placement groups.

They are plain mutable records (the state changes them in place under one lock) that
turn into and back from JSON documents for SQLite. References between objects use the
immutable ``globalId`` (``gid``), never names, so renames touch one record.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

Limit = Union[int, str]

#: The placement and QoS policy a volume, snapshot or template carries: API field ->
#: record attribute. Both record types set these attributes in ``__init__`` (a template's
#: replication defaults to "-", not set).
_POLICY: Dict[str, str] = {
    "replication": "replication", "placeAll": "place_all", "placeTail": "place_tail",
    "placeHead": "place_head", "iops": "iops", "bw": "bw", "limitType": "limit_type",
    "reuseServer": "reuse_server",
}


def _policy_of(record: Union["SpObject", "Template"]) -> Dict[str, Any]:
    return {api_key: getattr(record, attr) for api_key, attr in _POLICY.items()}


class SpObject:
    """A volume or a snapshot (one shared namespace, one record type, ``kind`` tells them apart).

    ``name`` is None for anonymous objects (listed as ``~<gid>``). ``parent`` and
    ``origin`` (the volume a snapshot was taken from) are gids. ``deleted_at`` is set
    while a snapshot with children waits for its data to be pushed into them.
    """

    __slots__ = (
        "gid", "vid", "kind", "name", "parent", "template", "size", "replication",
        "place_all", "place_tail", "place_head", "iops", "bw", "limit_type", "reuse_server",
        "tags", "created", "origin", "auto_name", "bound", "deleted_at", "transient",
        "delete_date", "backup_of",
    )

    def __init__(self, gid: str, vid: int, kind: str, name: Optional[str], size: int, created: int) -> None:
        self.gid = gid
        self.vid = vid
        self.kind = kind
        self.name = name
        self.parent: Optional[str] = None
        self.template = ""
        self.size = size
        self.replication = 3
        self.place_all = "default"
        self.place_tail = "default"
        self.place_head = "default"
        self.iops: Limit = "-"
        self.bw: Limit = "-"
        self.limit_type = "total"
        self.reuse_server = False
        self.tags: Dict[str, str] = {}
        self.created = created
        self.origin: Optional[str] = None
        self.auto_name = False
        self.bound = False
        self.deleted_at: Optional[int] = None
        self.transient = False
        self.delete_date = 0
        self.backup_of: Optional[str] = None

    @property
    def is_volume(self) -> bool:
        return self.kind == "volume"

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def display_name(self) -> str:
        """The name StorPool lists: ``~<gid>`` when anonymous, ``*<name>`` while being deleted."""
        if self.name is None:
            return "~" + self.gid
        if self.deleted_at is not None:
            return "*" + self.name
        return self.name

    def policy(self) -> Dict[str, Any]:
        return _policy_of(self)

    def apply_policy(self, values: Dict[str, Any]) -> None:
        """Set policy fields from a dict with API field names (missing keys keep their value)."""
        for api_key, attr in _POLICY.items():
            if api_key not in values:
                continue
            value = values[api_key]
            if value == "-" and api_key not in ("iops", "bw"):
                continue  # "-" means "not set" for everything but the limits
            setattr(self, attr, value)

    def to_doc(self) -> Dict[str, Any]:
        return {slot: getattr(self, slot) for slot in self.__slots__}

    @classmethod
    def from_doc(cls, doc: Dict[str, Any]) -> "SpObject":
        obj = cls.__new__(cls)
        for slot in cls.__slots__:
            setattr(obj, slot, doc[slot])
        return obj


class Attachment:
    """One (object, client) attachment; ``open`` models a process holding the device open."""

    __slots__ = ("rights", "pos", "open")

    def __init__(self, rights: str, pos: int, open_: bool = False) -> None:
        self.rights = rights
        self.pos = pos
        self.open = open_


class Template:
    """A volume template. ``size`` and ``replication`` may be ``"-"`` (not set)."""

    FIELDS = ("id", "name", "parent", "size", "replication", "place_all", "place_tail",
              "place_head", "iops", "bw", "limit_type", "reuse_server", "tags")

    def __init__(self, tid: int, name: str) -> None:
        self.id = tid
        self.name = name
        self.parent = ""
        self.size: Limit = "-"
        self.replication: Limit = "-"
        self.place_all = "default"
        self.place_tail = "default"
        self.place_head = "default"
        self.iops: Limit = "-"
        self.bw: Limit = "-"
        self.limit_type = "total"
        self.reuse_server = False
        self.tags: Dict[str, str] = {}

    def policy(self) -> Dict[str, Any]:
        """Policy values the template imposes on its volumes (replication only when set)."""
        out = _policy_of(self)
        if self.replication == "-":
            del out["replication"]
        return out

    def to_doc(self) -> Dict[str, Any]:
        return {f: getattr(self, f) for f in self.FIELDS}

    @classmethod
    def from_doc(cls, doc: Dict[str, Any]) -> "Template":
        tpl = cls(doc["id"], doc["name"])
        for f in cls.FIELDS:
            setattr(tpl, f, doc[f])
        return tpl


class PlacementGroup:
    """A named set of (synthetic) disk ids; its raw capacity is disks x disk capacity."""

    def __init__(self, pid: int, name: str, disks: Optional[List[int]] = None) -> None:
        self.id = pid
        self.name = name
        self.disks: List[int] = sorted(set(disks or ()))

    def to_doc(self) -> Dict[str, Any]:
        return {"id": self.id, "name": self.name, "disks": self.disks}

    @classmethod
    def from_doc(cls, doc: Dict[str, Any]) -> "PlacementGroup":
        return cls(doc["id"], doc["name"], doc["disks"])

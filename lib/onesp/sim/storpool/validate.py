"""Checks of request values, with StorPool's alphabets and limits.

Every function takes the raw JSON value and returns it normalised, or raises
``invalidParam``. Request bodies are checked against the set of fields the call knows:
an unknown field is refused (emulator choice: a misspelt field would otherwise be
silently ignored and hide a client bug).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Collection, Dict, Iterable, List, Mapping, Optional, Union

from .apierror import invalid

SECTOR = 512
NAME_LIMIT = 200  # names must be shorter than this
RESERVED = frozenset(("list", "status"))
MAX_CLIENT_ID = 4095

VOLUME_NAME = re.compile(r"\#?[A-Za-z0-9_\-.:]+\Z")
SNAPSHOT_NAME = re.compile(r"\*?[A-Za-z0-9_\-.:@]+\Z")
GLOBAL_REF = re.compile(r"~([a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+)\Z")
GLOBAL_ID = re.compile(r"[a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+\Z")
TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_\-]+\Z")
TAG_KEY = re.compile(r"[A-Za-z0-9_\-.:]+\Z")
TAG_VALUE = re.compile(r"[A-Za-z0-9_\-.:]*\Z")
LOCATION_NAME_LIMIT = 64
PG_NAME_LIMIT = 128

#: Policy fields every create/update call accepts (VolumePolicyDesc).
POLICY_FIELDS = ("placeAll", "placeTail", "placeHead", "replication", "iops", "bw", "reuseServer", "limitType")


def body_dict(body: Any, call: str, allowed: Iterable[str]) -> Dict[str, Any]:
    """Return ``body`` as a dict ({} for no body) after refusing unknown fields."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("%s expects a JSON object" % call)
    allowed = set(allowed)
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise invalid("%s: unknown field(s): %s" % (call, ", ".join(unknown)))
    return {k: v for k, v in body.items() if v is not None}


def _name(value: Any, what: str, pattern: "re.Pattern[str]", limit: int = NAME_LIMIT,
          reserved: Collection[str] = RESERVED) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise invalid("invalid %s %r" % (what, value))
    if len(value) >= limit:
        raise invalid("%s is too long (max %d characters)" % (what, limit - 1))
    if value in reserved:
        raise invalid("%s must not be one of %s" % (what, ", ".join(sorted(reserved))))
    return value


def volume_name(value: Any) -> str:
    """A name a client may give to a new volume or snapshot (no ``@``, no ``*``)."""
    return _name(value, "volume name", VOLUME_NAME)


def snapshot_name(value: Any) -> str:
    return _name(value, "snapshot name", SNAPSHOT_NAME)


def object_ref(value: Any, what: str = "volume") -> str:
    """A reference to an existing volume or snapshot: a name or ``~<globalId>``."""
    if isinstance(value, str) and GLOBAL_REF.match(value):
        return value
    pattern = VOLUME_NAME if what == "volume" else SNAPSHOT_NAME
    return _name(value, "%s name" % what, pattern)


def template_name(value: Any) -> str:
    return _name(value, "template name", TEMPLATE_NAME, reserved=("list",))


def pg_name(value: Any) -> str:
    return _name(value, "placement group name", TEMPLATE_NAME, PG_NAME_LIMIT, reserved=("list",))


def location_name(value: Any) -> str:
    return _name(value, "location name", VOLUME_NAME, LOCATION_NAME_LIMIT, reserved=("list",))


def global_id(value: Any) -> str:
    if not isinstance(value, str) or not GLOBAL_ID.match(value):
        raise invalid("invalid global id %r" % (value,))
    return value


def tags(value: Any) -> Dict[str, str]:
    if not isinstance(value, dict):
        raise invalid("tags must be an object of key: value")
    out = {}
    for key, val in value.items():
        _name(key, "tag name", TAG_KEY, reserved=())
        if not isinstance(val, str) or not TAG_VALUE.match(val):
            raise invalid("invalid value %r of tag %s" % (val, key))
        if len(val) >= NAME_LIMIT:
            raise invalid("value of tag %s is too long" % key)
        out[key] = val
    return out


def integer(value: Any, what: str, minimum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("%s must be an integer, got %r" % (what, value))
    if minimum is not None and value < minimum:
        raise invalid("%s must be at least %d" % (what, minimum))
    return value


def size(value: Any, what: str = "size") -> int:
    number = integer(value, what)
    if number < 1:
        raise invalid("%s %d must be positive" % (what, number))
    if number % SECTOR:
        raise invalid("%s %d must be a multiple of %d" % (what, number, SECTOR))
    return number


def boolean(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise invalid("%s must be true or false" % what)
    return value


def replication(value: Any) -> int:
    number = integer(value, "replication")
    if not 1 <= number <= 3:
        raise invalid("replication must be between 1 and 3")
    return number


def limit(value: Any, what: str) -> Union[int, str]:
    """An iops or bandwidth limit: a non-negative integer or ``"-"`` (unlimited)."""
    if value == "-":
        return "-"
    return integer(value, what, 0)


def limit_type(value: Any) -> str:
    if not isinstance(value, str) or value not in ("total", "perGiB"):
        raise invalid("limitType must be total or perGiB")
    return value


def client_id(value: Any) -> int:
    """Client ids arrive as numbers or as numeric strings (the addon sends strings)."""
    if isinstance(value, bool):
        raise invalid("invalid client id %r" % (value,))
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_CLIENT_ID:
        raise invalid("invalid client id %r" % (value,))
    return value


def client_list(value: Any, what: str) -> List[int]:
    if not isinstance(value, list):
        raise invalid("%s must be a list of client ids" % what)
    return [client_id(v) for v in value]


def policy(body: Mapping[str, Any], pg_exists: Callable[[str], str]) -> Dict[str, Any]:
    """Validated policy overrides from a request; ``pg_exists(name)`` raises if a PG is unknown."""
    out: Dict[str, Any] = {}
    for key in ("placeAll", "placeTail", "placeHead"):
        if key in body:
            out[key] = pg_exists(pg_name(body[key]))
    if "replication" in body:
        out["replication"] = replication(body["replication"])
    for key in ("iops", "bw"):
        if key in body:
            out[key] = limit(body[key], key)
    if "reuseServer" in body:
        out["reuseServer"] = boolean(body["reuseServer"], "reuseServer")
    if "limitType" in body:
        out["limitType"] = limit_type(body["limitType"])
    return out


def name_with_tags(name: str, tag_map: Mapping[str, str]) -> None:
    """StorPool's documented 200-byte budget for a name together with its tags."""
    total = len(name) + sum(len(k) + 1 + len(v) for k, v in tag_map.items())
    if total > NAME_LIMIT:
        raise invalid("name %s with its tags is %d bytes, more than %d" % (name, total, NAME_LIMIT))

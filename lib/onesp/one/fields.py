"""Typed reads of oned XML elements, every failure a BadInput naming the element.

Conventions shared by all views: ids and sizes are integers, YES/NO (and oned's
0/1) become booleans, an optional element that is absent or empty is None.
``where`` is the path of the element in the document (``VM/TEMPLATE/DISK[1]``)
so a message points at the exact element that was wrong.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, TypedDict

from lxml import etree

from ..runtime.errors import BadInput

_TRUE = frozenset(("YES", "TRUE", "1", "ON"))
_FALSE = frozenset(("NO", "FALSE", "0", "OFF"))


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def parse_int(value: str, where: str) -> int:
    """Integer from oned text; BadInput naming ``where`` otherwise."""
    text = value.strip()
    try:
        return int(text, 10)
    except ValueError as exc:
        raise BadInput("%s is %s, not an integer" % (where, _show(value))) from exc


def parse_flag(value: str, where: str) -> bool:
    """YES/NO, TRUE/FALSE, 1/0, ON/OFF in any case."""
    text = value.strip().upper()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadInput("%s is %s, not YES or NO" % (where, _show(value)))


class Fields:
    """Reader over one element, remembering its path for error messages.

    The first child of each tag is indexed once, on the first read: a VM pool view reads
    some 40 fields of each of thousands of disks and snapshots, and a dictionary lookup per
    field keeps that linear in the document (``element.find`` per field scans the children
    every time).
    """

    __slots__ = ("element", "where", "_first")

    def __init__(self, element: etree._Element, where: str) -> None:
        self.element = element
        self.where = where
        self._first: Optional[Dict[str, etree._Element]] = None

    def path(self, tag: str) -> str:
        return "%s/%s" % (self.where, tag)

    def child(self, tag: str) -> Optional[etree._Element]:
        """The first child ``tag``, None when absent."""
        first = self._first
        if first is None:
            first = {}
            for node in self.element:
                if isinstance(node.tag, str):  # comments and processing instructions have none
                    first.setdefault(node.tag, node)
            self._first = first
        return first.get(tag)

    def raw(self, tag: str) -> Optional[str]:
        """Text of the first child ``tag`` ('' when empty), None when absent."""
        child = self.child(tag) if self._first is None else self._first.get(tag)
        if child is None:
            return None
        return child.text or ""

    def require_child(self, tag: str) -> etree._Element:
        child = self.child(tag)
        if child is None:
            raise BadInput("%s is missing" % self.path(tag))
        return child

    def children(self, tag: str) -> List[etree._Element]:
        return self.element.findall(tag)

    def req_str(self, tag: str) -> str:
        value = self.raw(tag)
        if value is None:
            raise BadInput("%s is missing" % self.path(tag))
        return value

    def opt_str(self, tag: str) -> Optional[str]:
        value = self.raw(tag)
        if value is None or value.strip() == "":
            return None
        return value

    def req_int(self, tag: str) -> int:
        value = self.raw(tag)
        if value is None or value.strip() == "":
            raise BadInput("%s is missing" % self.path(tag))
        return self._int(value, tag)

    def opt_int(self, tag: str) -> Optional[int]:
        value = self.raw(tag)
        if value is None or value.strip() == "":
            return None
        return self._int(value, tag)

    def _int(self, value: str, tag: str) -> int:
        """``parse_int`` naming the element only when it fails (a pool read does this 100,000 times)."""
        try:
            return int(value, 10)  # int() itself ignores surrounding whitespace
        except ValueError:
            return parse_int(value, self.path(tag))

    def opt_id(self, tag: str) -> Optional[int]:
        """An id where oned writes -1 for 'none' (CLONING_ID, TARGET_SNAPSHOT, ...)."""
        value = self.opt_int(tag)
        if value is None or value < 0:
            return None
        return value

    def flag(self, tag: str, default: bool = False) -> bool:
        value = self.raw(tag)
        if value is None or value.strip() == "":
            return default
        text = value.strip().upper()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return parse_flag(value, self.path(tag))

    def opt_flag(self, tag: str) -> Optional[bool]:
        value = self.raw(tag)
        if value is None or value.strip() == "":
            return None
        return parse_flag(value, self.path(tag))

    def ids(self, tag: str) -> Tuple[int, ...]:
        """``<TAG><ID>1</ID><ID>2</ID></TAG>`` as a tuple; absent -> ()."""
        holder = self.element.find(tag)
        if holder is None:
            return ()
        where = self.path(tag) + "/ID"
        return tuple(parse_int(node.text or "", where) for node in holder.findall("ID"))


def pool_object(element: etree._Element, kind: str) -> Tuple[int, Fields]:
    """The id of a pool object (VM, IMAGE, ...) and a reader over it whose messages name the
    object: ``IMAGE[ID=7]/SOURCE``, not just ``IMAGE/SOURCE``."""
    f = Fields(element, kind)
    obj_id = f.req_int("ID")
    f.where = "%s[ID=%d]" % (kind, obj_id)
    return obj_id, f


def int_list(value: Optional[str], where: str, sep: str = ",") -> Tuple[int, ...]:
    """'1,2, 3' -> (1, 2, 3); None or '' -> ()."""
    if value is None or value.strip() == "":
        return ()
    return tuple(parse_int(part, where) for part in value.split(sep) if part.strip())


class Owner(TypedDict):
    """The header every pool object starts with, as the view fields it fills."""

    name: str
    uid: int
    gid: int
    uname: Optional[str]
    gname: Optional[str]


def owner(f: "Fields") -> Owner:
    """NAME, UID, GID, UNAME and GNAME of a pool object (``**owner(f)`` in its view's constructor)."""
    return {"name": f.req_str("NAME"), "uid": f.req_int("UID"), "gid": f.req_int("GID"),
            "uname": f.opt_str("UNAME"), "gname": f.opt_str("GNAME")}

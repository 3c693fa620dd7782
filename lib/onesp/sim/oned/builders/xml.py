"""Small helpers to write oned-shaped XML: compact, no declaration, strings in CDATA."""

from __future__ import annotations

import base64
from typing import Any, Iterable, Mapping, Optional, Union

from lxml import etree

Scalar = Union[str, int, bool, None]


def at_least(version: str, wanted: str) -> bool:
    """Whether OpenNebula ``version`` ("7.2", "7.4.0", "6.10.5") is ``wanted`` or newer."""
    def numbers(text: str) -> "tuple[int, ...]":
        return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())
    return numbers(version) >= numbers(wanted)


def text_of(value: Scalar) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "YES" if value else "NO"
    return str(value)


def add(parent: etree._Element, tag: str, value: Scalar = None, cdata: Optional[bool] = None) -> etree._Element:
    """Append ``<tag>value</tag>``; strings go in CDATA like oned writes them (numbers do not)."""
    node = etree.SubElement(parent, tag)
    if value is None:
        return node
    text = text_of(value)
    use_cdata = isinstance(value, str) if cdata is None else cdata
    node.text = etree.CDATA(text) if use_cdata and "]]>" not in text else text
    return node


def add_ids(parent: etree._Element, tag: str, ids: Iterable[int]) -> etree._Element:
    holder = etree.SubElement(parent, tag)
    for value in ids:
        add(holder, "ID", int(value))
    return holder


def owned_root(tag: str, object_id: int, name: str, uid: int = 0, gid: int = 0, uname: str = "oneadmin",
               gname: str = "oneadmin") -> etree._Element:
    """The root of a pool object with the header oned writes first: ids, owner, name, permissions."""
    root = etree.Element(tag)
    for child, value in (("ID", object_id), ("UID", uid), ("GID", gid)):
        add(root, child, value)
    add(root, "UNAME", uname, cdata=False)
    add(root, "GNAME", gname, cdata=False)
    add(root, "NAME", name, cdata=False)
    add_permissions(root)
    return root


def add_permissions(parent: etree._Element) -> None:
    holder = etree.SubElement(parent, "PERMISSIONS")
    for tag, value in (("OWNER_U", 1), ("OWNER_M", 1), ("OWNER_A", 0), ("GROUP_U", 0), ("GROUP_M", 0),
                       ("GROUP_A", 0), ("OTHER_U", 0), ("OTHER_M", 0), ("OTHER_A", 0)):
        add(holder, tag, value)


def add_template(parent: etree._Element, tag: str, attributes: Mapping[str, Any]) -> etree._Element:
    """A template section, attributes in alphabetical order as oned keeps them.

    A value may be a scalar, a mapping (vector attribute) or a list of those
    (the attribute repeats).
    """
    holder = etree.SubElement(parent, tag)
    for name in sorted(attributes):
        values = attributes[name]
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if isinstance(value, Mapping):
                add_template(holder, name, value)
            else:
                add(holder, name, text_of(value))
    return holder


def serialize(element: etree._Element) -> str:
    return etree.tostring(element, encoding="unicode")


def parse_fragment(xml_text: str) -> etree._Element:
    """Parse a document produced by these builders (trusted input)."""
    return etree.fromstring(xml_text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))


def b64(text: Union[str, bytes]) -> str:
    """Base64 on one line, no trailing newline: how oned passes documents on stdin."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def b64_wrapped(text: Union[str, bytes], width: int = 60) -> str:
    """Base64 in lines of ``width`` characters (how the bash addon stores vm.xml)."""
    flat = b64(text)
    return "\n".join(flat[i:i + width] for i in range(0, len(flat), width)) + "\n"

"""Template sections (TEMPLATE, USER_TEMPLATE, DISK, CONTEXT ...) as read-only mappings.

A template maps attribute names to their text. Most attributes are single
("scalar"); a name may repeat, and vector attributes (``DISK = [ ... ]``) are
nested templates reached with :meth:`Template.vectors`. The mapping itself
holds scalars only, first occurrence wins, values exactly as oned wrote them
('' for an empty value).

``repr`` lists names but never values: datastore templates carry API tokens.
"""

from __future__ import annotations

import re
from collections import abc
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from lxml import etree

from .fields import parse_flag, parse_int

_NAME = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


class Template(Mapping[str, str]):
    """Read-only view of one template section."""

    __slots__ = ("_scalars", "_vectors", "where")

    def __init__(
        self,
        scalars: Optional[Dict[str, Tuple[str, ...]]] = None,
        vectors: Optional[Dict[str, Tuple["Template", ...]]] = None,
        where: str = "TEMPLATE",
    ) -> None:
        self._scalars = dict(scalars or {})
        self._vectors = dict(vectors or {})
        self.where = where

    @classmethod
    def from_xml(
        cls, element: Optional[etree._Element], where: str, skip: Iterable[str] = ()
    ) -> "Template":
        """Build from a template element (None gives an empty template), leaving out ``skip``."""
        scalars: Dict[str, List[str]] = {}
        vectors: Dict[str, List[Template]] = {}
        skipped = frozenset(skip)
        if element is not None:
            for child in element:
                if not isinstance(child.tag, str) or child.tag in skipped:
                    continue
                if len(child):
                    index = len(vectors.get(child.tag, ())) + 1
                    sub = cls.from_xml(child, "%s/%s[%d]" % (where, child.tag, index))
                    vectors.setdefault(child.tag, []).append(sub)
                else:
                    scalars.setdefault(child.tag, []).append(child.text or "")
        return cls(
            {k: tuple(v) for k, v in scalars.items()},
            {k: tuple(v) for k, v in vectors.items()},
            where,
        )

    # Mapping protocol -------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self._scalars[key][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scalars)

    def __len__(self) -> int:
        return len(self._scalars)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Template):
            return self._scalars == other._scalars and self._vectors == other._vectors
        if isinstance(other, abc.Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    # __eq__ without __hash__: a template is unhashable, as a dict is.

    def __repr__(self) -> str:
        names = sorted(set(self._scalars) | set(self._vectors))
        return "Template(%s: %s)" % (self.where, ", ".join(names))

    # Typed helpers ----------------------------------------------------
    def vectors(self, key: str) -> Tuple["Template", ...]:
        """Every vector attribute named ``key`` (``DISK = [ ... ]``)."""
        return self._vectors.get(key, ())

    def text(self, key: str) -> Optional[str]:
        """Value with surrounding whitespace removed; None when absent or blank."""
        values = self._scalars.get(key)
        if not values:
            return None
        value = values[0].strip()
        return value or None

    def get_int(self, key: str) -> Optional[int]:
        value = self.text(key)
        return None if value is None else parse_int(value, "%s/%s" % (self.where, key))

    def get_flag(self, key: str) -> Optional[bool]:
        value = self.text(key)
        return None if value is None else parse_flag(value, "%s/%s" % (self.where, key))

    def words(self, key: str) -> Tuple[str, ...]:
        """Whitespace-separated list (BRIDGE_LIST); () when absent."""
        value = self.text(key)
        return tuple(value.split()) if value else ()


def _quote(value: str) -> str:
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


TemplateValue = Union[str, int, bool, Mapping[str, object]]


def render_template(values: Mapping[str, TemplateValue]) -> str:
    """Render attributes in oned's template syntax for the ``*.update`` calls.

    Strings are double-quoted with ``\\`` and ``"`` escaped; booleans become
    YES/NO; a mapping value becomes a vector attribute ``KEY=[A="x",B="y"]``.
    """
    lines = []
    for key, value in values.items():
        _check_name(key)
        if isinstance(value, Mapping):
            parts = []
            for sub_key, sub_value in value.items():
                _check_name(sub_key)
                parts.append("%s=%s" % (sub_key, _quote(_scalar(sub_value))))
            lines.append("%s=[%s]" % (key, ",".join(parts)))
        else:
            lines.append("%s=%s" % (key, _quote(_scalar(value))))
    return "\n".join(lines) + ("\n" if lines else "")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "YES" if value else "NO"
    if isinstance(value, (str, int)):
        return str(value)
    raise TypeError("template values are str, int or bool, not %s" % type(value).__name__)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("invalid template attribute name %r" % (name,))

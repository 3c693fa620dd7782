"""oned's template syntax, as the ``*.update`` calls receive it, and merging into documents.

Grammar handled (what oned's own parser accepts for our purposes)::

    NAME = value            # bare word up to the end of the line
    NAME = "quoted value"   # may span lines; \\" and \\\\ are escapes
    NAME = [ A = "x", B = y ]
    # comments to the end of the line

Names are case-insensitive and stored upper case, as oned does.
"""

from __future__ import annotations

import re
from typing import List, Tuple, Union

from lxml import etree

Value = Union[str, List[Tuple[str, str]]]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_BARE = re.compile(r"[^\s,\]\[\"#=]+")
_BLANK = re.compile(r"[ \t]+")
_SPACE = re.compile(r"(?:\s+|#[^\n]*)+")


class TemplateSyntaxError(ValueError):
    """The template text does not parse; the message names the line."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self, newlines: bool = True) -> None:
        """Skip blanks and comments; with ``newlines=False`` only spaces and tabs."""
        pattern = _SPACE if newlines else _BLANK
        match = pattern.match(self.text, self.pos)
        if match:
            self.pos = match.end()

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def error(self, what: str) -> TemplateSyntaxError:
        line = self.text.count("\n", 0, self.pos) + 1
        near = self.text[self.pos:self.pos + 20].split("\n")[0]
        return TemplateSyntaxError("syntax error at line %d: %s near %r" % (line, what, near))

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error("expected %r" % char)
        self.pos += 1

    def name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.error("expected an attribute name")
        self.pos = match.end()
        return match.group(0).upper()

    def value(self) -> str:
        if self.peek() == '"':
            return self.quoted()
        match = _BARE.match(self.text, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group(0)

    def quoted(self) -> str:
        self.pos += 1
        out = []
        while True:
            if self.at_end():
                raise self.error("unterminated string")
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return "".join(out)
            out.append(char)


def parse_template(text: str) -> List[Tuple[str, Value]]:
    """``[(NAME, value-or-vector), ...]`` in the order written."""
    scan = _Scanner(text)
    attributes: List[Tuple[str, Value]] = []
    while True:
        scan.skip()
        if scan.at_end():
            return attributes
        name = scan.name()
        scan.skip()
        scan.expect("=")
        scan.skip(newlines=False)
        if scan.peek() == "[":
            scan.pos += 1
            pairs: List[Tuple[str, str]] = []
            while True:
                scan.skip()
                if scan.peek() == "]":
                    scan.pos += 1
                    break
                key = scan.name()
                scan.skip()
                scan.expect("=")
                scan.skip()
                pairs.append((key, scan.value()))
                scan.skip()
                if scan.peek() == ",":
                    scan.pos += 1
                elif scan.peek() != "]":
                    raise scan.error("expected ',' or ']'")
            attributes.append((name, pairs))
        else:
            attributes.append((name, scan.value()))


def apply_template(section: etree._Element, text: str, merge: bool) -> None:
    """Replace (``merge=False``) or merge attributes into a template element, oned-style.

    Merging replaces every existing attribute of a name that the update names;
    children are kept in alphabetical order as oned writes them.
    """
    attributes = parse_template(text)
    if not merge:
        for child in list(section):
            section.remove(child)
    else:
        names = {name for name, _ in attributes}
        for child in list(section):
            if child.tag in names:
                section.remove(child)
    for name, value in attributes:
        node = etree.SubElement(section, name)
        if isinstance(value, list):
            for key, sub in sorted(value, key=lambda pair: pair[0]):
                etree.SubElement(node, key).text = sub
        else:
            node.text = value
    ordered = sorted(section, key=lambda child: str(child.tag))
    for child in list(section):
        section.remove(child)
    for child in ordered:
        child.tail = None
    section.extend(ordered)
    section.text = None

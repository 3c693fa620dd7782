"""A small reader and splice editor for oned.conf (OpenNebula's template syntax).

oned.conf is a sequence of ``NAME = value`` and ``NAME = [ KEY = value, ... ]`` entries
with ``#`` comments; a value is a bare word or a double-quoted string, which may span
lines. The reader records where every entry, attribute and value starts and ends, so an
edit replaces exactly those bytes and the rest of the file — comments, spacing, order —
stays byte for byte as the operator left it. This is deliberately not a general parser:
anything it cannot follow raises ``OnedConfError`` naming the line, and callers then leave
the file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

from ...runtime.errors import ConfigError

_PUNCTUATION = "=[],"
_WORD_STOP = '=[],#"'


class OnedConfError(ConfigError):
    """The file is not in the syntax this editor understands (nothing was changed)."""


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, or one of = [ ] ,
    start: int
    end: int
    text: str  # for strings: the content between the quotes


@dataclass(frozen=True)
class Value:
    """A scalar value and where it sits (``start``/``end`` include the quotes)."""

    text: str
    start: int
    end: int
    quoted: bool

    @property
    def inner_start(self) -> int:
        """Offset of the first character inside the quotes (of the word when unquoted)."""
        return self.start + 1 if self.quoted else self.start


@dataclass(frozen=True)
class Attribute:
    name: str  # upper case, as oned treats names
    start: int
    value: Value


@dataclass(frozen=True)
class Entry:
    """One top-level entry: a scalar (``value``) or a vector (``attributes``)."""

    name: str  # upper case
    start: int
    end: int
    value: Optional[Value]
    attributes: Tuple[Attribute, ...]

    @property
    def is_vector(self) -> bool:
        return self.value is None

    def attribute(self, name: str) -> Optional[Attribute]:
        wanted = name.upper()
        for attribute in self.attributes:
            if attribute.name == wanted:
                return attribute
        return None

    def text(self, name: str) -> Optional[str]:
        attribute = self.attribute(name)
        return attribute.value.text if attribute else None


@dataclass(frozen=True)
class Document:
    text: str
    entries: Tuple[Entry, ...]

    def named(self, name: str) -> List[Entry]:
        wanted = name.upper()
        return [entry for entry in self.entries if entry.name == wanted]

    def vectors(self, name: str, **match: str) -> List[Entry]:
        """Vector entries called ``name`` whose attributes equal ``match`` (e.g. NAME="kvm")."""
        return [
            entry for entry in self.named(name)
            if entry.is_vector and all(entry.text(key) == value for key, value in match.items())
        ]

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1


def line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def tokens(text: str) -> Iterator[Token]:
    """The tokens of ``text``, comments and white space skipped."""
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
        elif ch == '"':
            j = i + 1
            content: List[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    content.append(text[j + 1])
                    j += 2
                    continue
                content.append(text[j])
                j += 1
            if j >= n:
                raise OnedConfError("line %d: a string starts here and is never closed" % line_at(text, i))
            yield Token("string", i, j + 1, "".join(content))
            i = j + 1
        elif ch in _PUNCTUATION:
            yield Token(ch, i, i + 1, ch)
            i += 1
        else:
            j = i
            while j < n and text[j] not in _WORD_STOP and not text[j].isspace():
                j += 1
            yield Token("word", i, j, text[i:j])
            i = j


def parse(text: str) -> Document:
    """Read ``text``; raises OnedConfError when it is not plain oned.conf syntax."""
    stream = list(tokens(text))
    entries: List[Entry] = []
    pos = 0

    def take(expected: Sequence[str], what: str, after: Token) -> Token:
        nonlocal pos
        if pos >= len(stream):
            raise OnedConfError("line %d: expected %s after %r, found the end of the file"
                                % (line_at(text, after.start), what, after.text))
        token = stream[pos]
        if token.kind not in expected:
            raise OnedConfError("line %d: expected %s, found %r" % (line_at(text, token.start), what, token.text))
        pos += 1
        return token

    while pos < len(stream):
        name = stream[pos]
        if name.kind != "word":
            raise OnedConfError("line %d: expected an attribute name, found %r" % (line_at(text, name.start), name.text))
        pos += 1
        equals = take("=", "'='", name)
        first = take(("word", "string", "["), "a value or '['", equals)
        if first.kind != "[":
            value = Value(first.text, first.start, first.end, first.kind == "string")
            entries.append(Entry(name.text.upper(), name.start, first.end, value, ()))
            continue
        attributes: List[Attribute] = []
        while True:
            if pos >= len(stream):
                raise OnedConfError("line %d: '[' of %s is never closed" % (line_at(text, first.start), name.text))
            token = stream[pos]
            pos += 1
            if token.kind == "]":
                break
            if token.kind == ",":
                continue
            if token.kind != "word":
                raise OnedConfError("line %d: expected an attribute name inside %s, found %r"
                                    % (line_at(text, token.start), name.text, token.text))
            inner_eq = take("=", "'='", token)
            raw = take(("word", "string"), "a value", inner_eq)
            attributes.append(Attribute(token.text.upper(), token.start,
                                        Value(raw.text, raw.start, raw.end, raw.kind == "string")))
        entries.append(Entry(name.text.upper(), name.start, token.end, None, tuple(attributes)))
    return Document(text, tuple(entries))


def splice(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + replacement + text[end:]


def removal_span(text: str, entry: Entry) -> Tuple[int, int]:
    """What to cut to remove ``entry``: the entry and the white space before it.

    This is the exact inverse of inserting ``<white space><entry>`` after an earlier entry,
    which is how entries are added, so add-then-remove gives back the original bytes.
    """
    start = entry.start
    while start > 0 and text[start - 1].isspace():
        start -= 1
    return start, entry.end


def quote(value: str) -> str:
    """A value as a double-quoted oned.conf string."""
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')

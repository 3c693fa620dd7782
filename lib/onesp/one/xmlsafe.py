"""Hardened XML and base64 input handling for everything oned hands us.

oned's documents never carry a DOCTYPE, entities, processing instructions or a
namespace, so anything of that sort is refused before lxml sees it. The parser
itself is configured with entity resolution, DTD loading and network access
off as a second line of defence. A byte limit is checked before parsing so a
hostile or runaway input cannot make an action allocate without bound; within
the limit a document that libxml2's default caps refuse (10 MB text nodes) is parsed again
with ``huge_tree``, because a legitimate, very large document may hold such a node.

Nesting is bounded by ``MAX_DEPTH`` on every lxml version. ``huge_tree`` lifts libxml2's
depth cap too, entirely before libxml2 2.11 (lxml < 5): lxml 4.6 accepts a document nested
300,000 deep and spends minutes of CPU on it. So the first parse runs without
``huge_tree`` (libxml2 then stops at depth 256 itself, at C speed), and only a document
that parse refuses is parsed again with ``huge_tree``, fed in small pieces while counting
the depth, so a deep one is given up after a few kilobytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TypedDict, Union

from lxml import etree

from ..runtime.errors import BadInput

#: Largest single document (driver action, one object) accepted, in bytes.
#: Real documents are kilobytes; tens of MB still parse, 50 MB do not.
MAX_DOCUMENT_BYTES = 40 * 1024 * 1024

#: Largest pool answer (one.vmpool.infoextended on a big cloud) accepted.
MAX_POOL_BYTES = 1024 * 1024 * 1024

#: Deepest element nesting accepted: libxml2's own cap without ``huge_tree``. oned's
#: documents are under ten levels deep. (libxml2 before 2.11 lets one more level through
#: its own check; deeper than 257 is refused on every version.)
MAX_DEPTH = 256

#: Bytes fed to the depth-counting parser at a time: a hostile document gets at most this
#: far past MAX_DEPTH before it is given up, and never to libxml2's own huge cap (2048
#: levels, at least 6 KB), so the refusal reads the same on every version.
_FEED_BYTES = 4 * 1024

_PROLOG_SKIP = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?(?:[^?]|\?(?!>))*\?>|<!--(?:[^-]|-(?!->))*-->)*"
)
_WHITESPACE = re.compile(rb"\s+")


class _ParserOptions(TypedDict):
    resolve_entities: bool
    no_network: bool
    load_dtd: bool
    dtd_validation: bool
    huge_tree: bool
    remove_comments: bool
    remove_pis: bool
    encoding: str


def _parser_options(huge: bool) -> _ParserOptions:
    # Do not add collect_ids=False: with lxml 6 / libxml2 2.14 it makes the
    # parser open an external DTD subset despite load_dtd=False (the FIFO test
    # in tests/unit/test_one_xmlsafe.py catches that).
    return _ParserOptions(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        remove_comments=True,
        remove_pis=True,
        encoding="utf-8",
    )


def _parse(raw: bytes, what: str) -> etree._Element:
    """Parse ``raw`` within libxml2's default caps, or else with ``huge_tree`` and a depth count."""
    try:
        return etree.fromstring(raw, etree.XMLParser(**_parser_options(huge=False)))
    except etree.XMLSyntaxError:
        pass  # over a default cap, or malformed: the bounded parse tells which, with its own message
    parser = etree.XMLPullParser(events=("start", "end"), **_parser_options(huge=True))
    depth = 0
    for offset in range(0, len(raw), _FEED_BYTES):
        parser.feed(raw[offset:offset + _FEED_BYTES])
        for event, _ in parser.read_events():
            depth += 1 if event == "start" else -1
            if depth > MAX_DEPTH:
                raise BadInput("%s is nested deeper than %d elements; oned documents are not" % (what, MAX_DEPTH))
    return parser.close()


def _as_bytes(data: Union[bytes, bytearray, str], what: str) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadInput("%s is not valid UTF-8 text" % what) from exc
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise BadInput("%s: expected text, got %s" % (what, type(data).__name__))


def _check_prolog(raw: bytes, what: str) -> None:
    """Refuse a DOCTYPE (and with it every entity trick) before parsing."""
    if b"\x00" in raw[:4096]:
        raise BadInput("%s is not UTF-8 XML (NUL bytes)" % what)
    match = _PROLOG_SKIP.match(raw)
    rest = raw[match.end():] if match else raw
    if rest.startswith(b"<!"):
        raise BadInput("%s contains a DOCTYPE or declaration; oned documents have none" % what)
    if not rest.startswith(b"<"):
        raise BadInput("%s is not an XML document" % what)


def _mb(size: int) -> str:
    return "%.1f MB" % (size / 1e6)


def parse_xml(
    data: Union[bytes, str],
    *,
    what: str = "XML document",
    root: Union[str, None] = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> etree._Element:
    """Parse one oned document and return its root element.

    ``what`` names the input in error messages; ``root`` (optional) is the
    required root tag. Every failure is a BadInput, never an lxml exception.
    """
    raw = _as_bytes(data, what)
    if len(raw) > max_bytes:
        raise BadInput("%s is %s, over the %s limit" % (what, _mb(len(raw)), _mb(max_bytes)))
    _check_prolog(raw, what)
    try:
        element = _parse(raw, what)
    except etree.XMLSyntaxError as exc:
        raise BadInput("%s is not well-formed XML: %s" % (what, _first_line(str(exc)))) from exc
    except (ValueError, etree.LxmlError) as exc:
        raise BadInput("%s cannot be parsed: %s" % (what, _first_line(str(exc)))) from exc
    if element.getroottree().docinfo.internalDTD is not None:
        raise BadInput("%s contains a DTD; oned documents have none" % what)
    # Both checks stay in C for the common case: a VM pool answer has hundreds of
    # thousands of elements, and visiting each from Python costs more than parsing them.
    # (Comments and processing instructions are already gone: the parser removes them.)
    if next(element.iter(etree.Entity), None) is not None:
        raise BadInput("%s contains an entity reference; oned documents have none" % what)
    if b"xmlns" in raw or b"<xml:" in raw:  # no element can have a namespace without one
        for node in element.iter():
            if isinstance(node.tag, str) and node.tag.startswith("{"):
                raise BadInput("%s element %s has a namespace; oned documents have none" % (what, node.tag))
    if root is not None and element.tag != root:
        raise BadInput("%s: expected a <%s> document, got <%s>" % (what, root, element.tag))
    return element


def decode_base64(
    data: Union[bytes, str],
    *,
    what: str = "base64 input",
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> bytes:
    """Decode oned's base64 (one line, or wrapped in lines), bounded by ``max_bytes`` decoded."""
    raw = _as_bytes(data, what)
    # 4/3 expansion plus generous room for line breaks, checked before any copy.
    if len(raw) > (max_bytes // 3 + 1) * 4 * 1.1 + 4096:
        raise BadInput("%s is %s, over the %s limit" % (what, _mb(len(raw)), _mb(max_bytes)))
    compact = _WHITESPACE.sub(b"", raw)
    if not compact:
        raise BadInput("%s is empty" % what)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput("%s is not valid base64: %s" % (what, _first_line(str(exc)))) from exc
    if len(decoded) > max_bytes:
        raise BadInput("%s decodes to %s, over the %s limit" % (what, _mb(len(decoded)), _mb(max_bytes)))
    return decoded


def looks_like_xml(data: Union[bytes, str]) -> bool:
    """True when the input is plain XML rather than base64 (base64 never contains '<')."""
    head = data[:512]
    if isinstance(head, str):
        return head.lstrip("\ufeff \t\r\n").startswith("<")
    return bytes(head).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line[:200]

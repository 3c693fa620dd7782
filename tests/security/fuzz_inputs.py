"""Hostile inputs for the fuzz tests (test_fuzz.py): hypothesis strategies and the mutators
that turn a valid driver-action document or TM argument list into one oned never sends.

Each argument mutator returns the new value and whether the drivers' contract says it must
be refused (``must_fail``): only sure cases are marked, anything oned could send is not.
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any, List, Tuple

from hypothesis import strategies as st
from lxml import etree

Canary = Any  # conftest.Canary: the ``canary`` fixture

#: A password in hostile URLs: it must never be shown (test_fuzz.check).
URL_PASSWORD = "fuzz-url-password"
#: Values that have broken parsers before: signs, widths, bases, Unicode digits, traversal, options.
SPECIAL = ["", " ", "-1", "0", "-0", "2147483647", "2147483648", "4294967296", "9" * 40, "\u0667", "\uff17",
           "1e3", "0x10", "+5", " 5", "5 ", "NaN", "YES", "NO", "../../../etc/passwd", "/", "//", "--help", "-rf",
           "*", "?", "~", "$HOME", "${PATH}", "%s%s%n", "\u202e", "\u00e9", "\\", "'", '"', ":", "one-img-5",
           "one-ds-100/one-img-5", "SPSNAPSHOT:one-img-5-snap0", "VM:7-DISK:0-VMSNAP:1",
           "http://127.0.0.1:9/x.raw", "file:///etc/passwd", "ftp://127.0.0.1/x"]
#: Image PATHs an image owner could set that can never be imported: malformed URLs (with and
#: without a password), a URL to a closed port, files that are not images or not allowed.
HOSTILE_PATHS = ["http://127.0.0.1:99999/x.raw", "http://[::1/x.raw", "https://[127.0.0.1]x/", "http://:80/x",
                 "http://", "http://127.0.0.1:x/", "http://user:%s@127.0.0.1:9/x.raw" % URL_PASSWORD,
                 "http://u:%s@[::1/x" % URL_PASSWORD, "https://u:%s@127.0.0.1:99999/x" % URL_PASSWORD,
                 "/dev/stdin", "/dev/zero", "/proc/self/fd/0", "/proc/self/environ", "/var/tmp", "/etc/shadow",
                 "/var/tmp/onesp-import-x/image", "/nonexistent/x.raw"]
SPECIAL += HOSTILE_PATHS
LONG = ["A" * 5000, "/a" * 3000, "9" * 400]
#: Numbers oned never sends as an id (the VM id, datastore id, size, snapshot id positions).
BAD_IDS = ["-2", "2147483648", "99999999999", "1" * 400, "", " 7", "7 ", "+7", "0x7", "7.0", "1e3", "\u0667",
           "\uff17", "7\n", "NaN", "seven", "-0"]
BAD_HOSTS = ["node 1", "-oProxyCommand=x", "node1;x", "$(x)", "`x`", "", "a" * 300, "n\u00f6de", "node1\n", "-",
             ".", "node1:22", "node1/x", "@node1"]
#: In a ``host:path`` pair the host ends at the first colon, so only these are sure to be refused there.
BAD_PAIR_HOSTS = [h for h in BAD_HOSTS if ":" not in h]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def xml_text(value: str) -> str:
    """Only characters an XML 1.0 document can carry (lxml refuses the rest)."""
    return "".join(c for c in value if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd"
                   or c >= "\U00010000")


def hostile_text(canary: Canary, original: str = "") -> st.SearchStrategy[str]:
    """A payload at any position of the original value, or a value from the usual suspects."""
    payload = st.sampled_from(canary.payloads)
    injected = st.tuples(payload, st.integers(0, len(original))).map(
        lambda p: original[:p[1]] + p[0] + original[p[1]:])
    return st.one_of(injected, payload, st.sampled_from(SPECIAL), st.integers(-2**70, 2**70).map(str),
                     st.text(max_size=40), st.sampled_from(LONG))


def path_text(canary: Canary) -> st.SearchStrategy[str]:
    """What may be pasted into a path: hostile, but never a ``..`` or ``.`` component (that would
    leave the test's directory; check_path refuses those anyway, tested with the broken paths),
    and at most a few levels deep: thousands of nested directories made by ``mkdir -p`` would
    break the recursive clean-up of pytest's temporary directories."""
    return hostile_text(canary).map(lambda v: v.replace("..", "_").replace("/.", "/_").lstrip(".")).map(
        lambda v: v if v.count("/") <= 12 else v.replace("/", "_"))


def mutate_document(data: Any, xml: str, canary: Canary) -> bytes:
    """1-3 structural or value mutations of a valid document."""
    root = etree.fromstring(xml.encode())
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        nodes = list(root.iter())
        node = nodes[data.draw(st.integers(0, len(nodes) - 1), label="node")]
        kind = data.draw(st.sampled_from(["value", "value", "value", "drop", "duplicate", "add", "empty"]),
                         label="mutation")
        parent = node.getparent()
        if kind == "value" or parent is None and kind in ("drop", "duplicate"):
            node.text = xml_text(data.draw(hostile_text(canary, node.text or ""), label="value"))
        elif kind == "drop":
            parent.remove(node)
        elif kind == "duplicate":
            parent.insert(parent.index(node) + 1, copy.deepcopy(node))
        elif kind == "add":
            tag = data.draw(st.sampled_from(["ID", "PATH", "SOURCE", "TEMPLATE", "SP_AUTH_TOKEN", "BRIDGE_LIST",
                                             "SIZE", "X"]), label="tag")
            etree.SubElement(node, tag).text = xml_text(data.draw(hostile_text(canary), label="value"))
        else:
            for child in list(node):
                node.remove(child)
            node.text = None
    return etree.tostring(root)


def encode(data: Any, document: bytes, object_id: str) -> Tuple[List[str], bytes]:
    """The argument forms oned uses: base64 on stdin (one line or wrapped), plain XML, in argv."""
    form = data.draw(st.sampled_from(["stdin", "stdin", "stdin", "wrapped", "plain", "argv", "dash"]), label="form")
    flat = base64.b64encode(document)
    if form == "wrapped":
        return [object_id], b"\n".join(flat[i:i + 60] for i in range(0, len(flat), 60)) + b"\n"
    if form == "plain":
        return [object_id], document
    if form == "argv":
        return [flat.decode(), object_id], b""
    if form == "dash":
        return ["-", object_id], flat
    return [object_id], flat


def random_input(canary: Canary) -> st.SearchStrategy[bytes]:
    """Bytes that are not a driver action, from noise to nearly-right documents."""
    text = st.text(max_size=300)
    return st.one_of(
        st.binary(max_size=2000),
        text.map(lambda t: t.encode("utf-8")),
        st.binary(max_size=1500).map(base64.b64encode),
        text.map(lambda t: base64.b64encode(("<DS_DRIVER_ACTION_DATA>%s</DS_DRIVER_ACTION_DATA>" % t).encode())),
        text.map(lambda t: ("<DS_DRIVER_ACTION_DATA><IMAGE><PATH>%s</PATH></IMAGE></DS_DRIVER_ACTION_DATA>"
                            % xml_text(t)).encode()),
        st.sampled_from(canary.payloads).map(str.encode),
        st.sampled_from([b"", b"\n", b"====", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
                         b"<?xml version='1.0'?><DS_DRIVER_ACTION_DATA/>", b"\xef\xbb\xbf<a/>", b"<a>" * 5000]),
    )


def hostile_path(data: Any, path: str, prefix: str, canary: Canary) -> Tuple[str, bool]:
    """``path`` with a payload at any position after ``prefix``, or a path oned never sends."""
    if data.draw(st.integers(0, 3), label="broken path?") == 0:
        broken = data.draw(st.sampled_from(["disk.0", "../x", prefix + "/../x", prefix + "/./x", prefix + "/a\x01b",
                                            "", "~/x", prefix + "/a\nb"]), label="path")
        return broken, True
    at = data.draw(st.integers(len(prefix), len(path)), label="position")
    injected = path[:at] + data.draw(path_text(canary), label="payload") + path[at:]
    return injected, bool(_CONTROL.search(injected))


def shell_bait(data: Any, world: Any, kind: str, value: str, canary: Canary) -> str:
    """A value oned could send (valid by every check) that carries a payload to the host commands."""
    payloads = [p for p in canary.payloads if not _CONTROL.search(p)]
    if kind == "file":
        return data.draw(st.sampled_from(world.files), label="file")
    host, colon, path = value.partition(":") if kind == "hp" else ("", "", value)
    prefix = world.prefixes.get(path, path.rsplit("/101/", 1)[0])
    at = data.draw(st.integers(len(prefix), len(path)), label="position")
    return host + colon + path[:at] + data.draw(st.sampled_from(payloads), label="payload") + path[at:]


def hostile_argument(data: Any, world: Any, kind: str, value: str, canary: Canary) -> Tuple[str, bool]:
    """A replacement for one argument, and whether oned's contract says it must be refused."""
    if data.draw(st.integers(0, 5), label="raw payload?") == 0 and kind != "file":
        return data.draw(st.sampled_from(canary.payloads), label="argument"), True
    if kind in ("id", "snap"):
        if data.draw(st.booleans(), label="valid number?"):
            return str(data.draw(st.integers(0, 2**31 - 1), label="number")), False
        return data.draw(st.sampled_from(BAD_IDS + ([] if kind == "snap" else ["-1"])), label="number"), True
    if kind == "host":
        if data.draw(st.booleans(), label="valid host?"):
            return data.draw(st.sampled_from(["node1", "node2", "elsewhere.example"]), label="host"), False
        return data.draw(st.sampled_from(BAD_HOSTS), label="host"), True
    if kind == "path":
        return hostile_path(data, value, world.prefixes.get(value, value.rsplit("/101/", 1)[0]), canary)
    if kind == "hp":
        host, _, path = value.partition(":")
        choice = data.draw(st.sampled_from(["path", "path", "host", "no colon"]), label="hp")
        if choice == "host":
            return data.draw(st.sampled_from(BAD_PAIR_HOSTS), label="host") + ":" + path, True
        if choice == "no colon":
            return path, True
        new_path, bad = hostile_path(data, path, path.rsplit("/101/", 1)[0], canary)
        return host + ":" + new_path, bad
    if kind == "file":
        name = data.draw(st.sampled_from(world.files), label="file")
        if data.draw(st.booleans(), label="renamed?"):
            name += ":" + data.draw(hostile_text(canary, "name"), label="name")
        return name, False
    if kind == "fe":
        host, _, source = value.partition(":")
        if data.draw(st.booleans(), label="bad host?"):
            return data.draw(st.sampled_from(BAD_PAIR_HOSTS), label="host") + ":" + source, True
        value, kind = source, "source"
        prefix = host + ":"
    else:
        prefix = ""
    text = data.draw(hostile_text(canary, value), label=kind)
    patterns = {"source": r"[A-Za-z0-9_.:\-/]{1,400}\Z", "fmt": r"[A-Za-z0-9_]{1,16}\Z",
                "deploy": r"[A-Za-z0-9_.\-]{1,128}\Z", "disks": r"[0-9:]*\Z"}
    return prefix + text, not re.match(patterns[kind], text, re.ASCII)

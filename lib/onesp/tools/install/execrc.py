"""``kvm-storpool`` in vmm_execrc's LIVE_DISK_SNAPSHOTS (a shell-style ``KEY="a b c"`` file).

Without it oned refuses disk snapshots of running VMs on StorPool disks. The value is
a space-separated word list in double or single quotes; the word is added before the
closing quote and removed with the space before it, so add-then-remove is byte-exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from .items import Record
from .onedconf import OnedConfError

KEY = "LIVE_DISK_SNAPSHOTS"
PAIR = "kvm-storpool"
_ASSIGNMENT = re.compile(r"^[ \t]*(?:export[ \t]+)?%s=(?P<value>\S.*?|)[ \t]*(?:#.*)?$" % KEY, re.M)


@dataclass(frozen=True)
class Assignment:
    start: int  # first character inside the quotes
    end: int  # the closing quote
    words: Tuple[str, ...]


def find(text: str) -> Optional[Assignment]:
    """The last LIVE_DISK_SNAPSHOTS assignment (the one the shell keeps), or None.

    Raises OnedConfError when its value is not a simple quoted word list.
    """
    matches = list(_ASSIGNMENT.finditer(text))
    if not matches:
        return None
    match = matches[-1]
    value = match.group("value")
    line = text.count("\n", 0, match.start()) + 1
    if len(value) < 2 or value[0] not in "\"'" or value[-1] != value[0] or value[0] in value[1:-1] or "$" in value:
        raise OnedConfError("line %d: %s is not a plain quoted list (%s); add %s by hand" % (line, KEY, value, PAIR))
    start = match.start("value") + 1
    return Assignment(start, start + len(value) - 2, tuple(value[1:-1].split()))


def missing(text: str) -> bool:
    found = find(text)
    return found is None or PAIR not in found.words


def register(text: str) -> Tuple[str, Optional[Record], List[str]]:
    """(new text, record of the change or None when already there, notes)."""
    found = find(text)
    if found is None:
        line = '%s="%s"\n' % (KEY, PAIR)
        return text + ("" if text.endswith("\n") or not text else "\n") + line, {"item": KEY, "created": True}, []
    if PAIR in found.words:
        return text, None, []
    separator = " " if text[found.start:found.end].strip() else ""
    return text[:found.end] + separator + PAIR + text[found.end:], {"item": KEY}, []


def unregister(text: str, record: Record) -> str:
    found = find(text)
    if found is None or PAIR not in found.words:
        return text
    if record.get("created") and found.words == (PAIR,):
        line_start = text.rfind("\n", 0, found.start) + 1
        line_end = text.find("\n", found.end)
        return text[:line_start] + text[line_end + 1 if line_end >= 0 else len(text):]
    inner = text[found.start:found.end]
    ours = " " + PAIR
    if inner.endswith(ours):  # where register put it: take back exactly that
        kept = inner[:-len(ours)]
    else:
        kept = " ".join(word for word in inner.split() if word != PAIR)
    return text[:found.start] + kept + text[found.end:]

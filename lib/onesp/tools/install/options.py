"""Comma lists inside a MAD's ARGUMENTS string (``-t 15 -d dummy,fs,ceph -s shared,ssh``).

OpenNebula's drivers read these with Ruby's GetoptLong: ``-d LIST``, ``-dLIST``,
``--long LIST`` and ``--long=LIST`` all work, and when an option is given twice the last
one wins — so a list is always extended in place, never given a second time. Every
function returns the new string; the characters outside the changed list stay as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Option:
    """Where an option's list sits in the ARGUMENTS string (``start``/``end`` of the list)."""

    start: int
    end: int
    option_start: int  # where the option itself (``-d``) begins

    def items(self, args: str) -> List[str]:
        text = args[self.start:self.end]
        return [item.strip() for item in text.split(",")] if text else []


def find(args: str, short: str, long: str) -> Optional[Option]:
    """The last occurrence of the option (the one GetoptLong keeps), or None."""
    found: Optional[Option] = None
    words = list(re.finditer(r"\S+", args))
    for index, match in enumerate(words):
        word = match.group()
        if word in (short, long):
            if index + 1 < len(words) and not words[index + 1].group().startswith("-"):
                following = words[index + 1]
                found = Option(following.start(), following.end(), match.start())
            else:
                found = Option(match.end(), match.end(), match.start())
        elif word.startswith(long + "="):
            found = Option(match.start() + len(long) + 1, match.end(), match.start())
        elif word.startswith(short) and not word.startswith("--") and len(word) > len(short):
            found = Option(match.start() + len(short), match.end(), match.start())
    return found


def item_spans(args: str, option: Option) -> List[Tuple[str, int, int]]:
    """Each list item with its span in ``args``."""
    spans = []
    position = option.start
    for raw in args[option.start:option.end].split(","):
        spans.append((raw.strip(), position, position + len(raw)))
        position += len(raw) + 1
    return spans


def add_item(args: str, option: Option, item: str) -> str:
    """Append ``item`` to the option's list."""
    separator = "," if option.end > option.start else ""
    return args[:option.end] + separator + item + args[option.end:]


def remove_item(args: str, option: Option, item: str) -> str:
    """Remove every occurrence of ``item`` from the option's list (the others keep their spelling)."""
    spans = item_spans(args, option)
    kept = [args[start:end] for name, start, end in spans if name != item]
    if len(kept) == len(spans):
        return args
    return args[:option.start] + ",".join(kept) + args[option.end:]


def append_option(args: str, short: str, items: Sequence[str]) -> str:
    """Add ``<short> a,b,c`` at the end of the string."""
    return args.rstrip() + " %s %s" % (short, ",".join(items)) + args[len(args.rstrip()):]


def drop_option(args: str, option: Option) -> str:
    """Remove the option and its list, with the white space before it."""
    start = option.option_start
    while start > 0 and args[start - 1].isspace():
        start -= 1
    return args[:start] + args[option.end:]

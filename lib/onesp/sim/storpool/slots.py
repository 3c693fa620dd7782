"""Attachment positions on each client, as StorPool numbers them (0..1023, the lowest free one
handed out): the emulated device's position in ``/dev/storpool-byid``-style listings."""

from __future__ import annotations

import heapq
from typing import Dict, List, Mapping, Set

from . import apierror
from .model import Attachment

MAX_SLOTS = 1024


class Slots:
    """Per-client attachment positions 0..1023; the lowest free one is handed out."""

    def __init__(self) -> None:
        self.high = 0
        self.free: List[int] = []

    def take(self) -> int:
        if self.free:
            return heapq.heappop(self.free)
        if self.high >= MAX_SLOTS:
            raise apierror.invalid("no free attachment slot on the client (max %d)" % MAX_SLOTS)
        self.high += 1
        return self.high - 1

    def give(self, pos: int) -> None:
        heapq.heappush(self.free, pos)

    def available(self) -> int:
        return MAX_SLOTS - self.high + len(self.free)


def slots_in_use(attachments: Mapping[str, Mapping[int, Attachment]]) -> Dict[int, Slots]:
    """The slots of each client, rebuilt from the attachments (object -> client -> attachment)."""
    used: Dict[int, Set[int]] = {}
    for per_client in attachments.values():
        for client, att in per_client.items():
            used.setdefault(client, set()).add(att.pos)
    out: Dict[int, Slots] = {}
    for client, positions in used.items():
        slots = out[client] = Slots()
        slots.high = max(positions) + 1
        slots.free = [p for p in range(slots.high) if p not in positions]
        heapq.heapify(slots.free)
    return out

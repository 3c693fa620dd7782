"""Counts of generated cells per test family, printed at the end of the run (conftest.py)."""

from __future__ import annotations

from typing import Dict


class Tally:
    def __init__(self) -> None:
        self.counts: Dict[str, Dict[str, int]] = {}

    def add(self, family: str, scenario: str, cells: int) -> None:
        self.counts.setdefault(family, {})[scenario] = cells

    def lines(self) -> list:
        return ["%s: %d cells over %d scenarios" % (family, sum(per.values()), len(per))
                for family, per in sorted(self.counts.items())]


TALLY = Tally()

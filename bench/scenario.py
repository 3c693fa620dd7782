"""What one benchmarked action is: how to set up run ``i`` and how to tell it did the work.

A scenario prepares the state for run ``i`` outside the timed region (documents in the
oned stand-in, volumes in the emulator, files) and returns the ``Invocation`` oned would
make; after the timed run, ``check`` verifies the real work happened (a volume exists, is
gone, is attached elsewhere...), so a fast no-op can never pass for a fast action.
Each scenario uses its own range of VM and image ids, so runs never meet old state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

from bench.cluster import Cluster
from onesp.sim.stack import Invocation


class Scenario(ABC):
    """Base: subclasses set the class attributes and implement ``prepare`` (and ``check``)."""

    #: "tm clone", "ds cp": how the tables name it.
    name = ""
    #: A per-disk TM action: the target of at most 3 StorPool calls applies.
    per_disk = False
    #: Works on one object (not the whole datastore): scaling ratio <= 1.2 applies.
    per_object = True
    #: What a run does, for the tables' footnotes.
    what = ""
    #: First VM / image id of this scenario's runs.
    base_id = 0

    def setup(self, cluster: Cluster) -> None:  # noqa: B027 - optional hook: most scenarios need no setup
        """Once per cluster, before the first run (not timed)."""

    @abstractmethod
    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        """Set up run ``i`` (not timed) and return what oned would run."""

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        """None when run ``i`` did its work, else what is wrong."""
        return None

    def object_id(self, i: int) -> int:
        return self.base_id + i

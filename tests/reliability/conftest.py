"""Reliability suite: a pool of installations shared by its tests, and the cell counts.

The generated cells (fault matrix, transient errors) are independent runs from a rebuilt
starting state; ``stacks`` gives a few complete installations (both stand-ins each) so
cells run side by side. Each cell resets its installation (``scenarios.prepare``) instead
of starting new stand-ins. ``ONESP_RELIABILITY_STACKS`` sets how many (default 4: the cells mostly wait on
subprocesses and retry back-offs, so more installations than cores still help).
"""

from __future__ import annotations

import os
from typing import Any, Iterator, List

import pytest

from onesp.sim.stack import Stack

from .tally import TALLY


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[List[Stack]]:
    count = max(1, int(os.environ.get("ONESP_RELIABILITY_STACKS", "4")))
    started: List[Stack] = []
    try:
        for _ in range(count):
            started.append(Stack.start(tmp_path_factory.mktemp("reliability-stack")))
        yield started
    finally:
        for stack in started:
            stack.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in TALLY.lines():
        terminalreporter.write_line("reliability: " + line)

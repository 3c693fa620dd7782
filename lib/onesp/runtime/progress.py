"""Progress of a long transfer: lines in the log, and a bar on a terminal.

A background thread writes a log line every ``INTERVAL`` seconds with what has moved so far
(when the caller can tell) and the elapsed time; leaving the block writes one summary line
with the rate. When a person runs the action on a terminal (``onesp run``), ``DISPLAY`` is
set and also gets the figures several times a second, to draw a progress bar. The thread
only reads: it never touches the action's state or undo stack.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Optional, Type

if TYPE_CHECKING:
    import logging

INTERVAL = 15.0
TICK = 0.25
MIB = 1024 * 1024

#: Called with (label, bytes moved, total or None, finished) when set (a terminal is watching).
DISPLAY: Optional[Callable[[str, int, Optional[int], bool], None]] = None


def _mib(count: int) -> str:
    return "%.1f MiB" % (count / MIB)


class Progress:
    """``with Progress(log, "download x", total, position): ...``"""

    def __init__(self, log: logging.Logger, label: str, total: Optional[int] = None,
                 position: Optional[Callable[[], int]] = None, interval: float = INTERVAL) -> None:
        self.log = log
        self.label = label
        self.total = total
        self.position = position
        self.interval = interval
        self.done = 0  # the caller may count here instead of passing ``position``
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._started = 0.0

    def __enter__(self) -> "Progress":
        self._started = time.monotonic()
        self.log.info("%s: started%s", self.label, " (%s)" % _mib(self.total) if self.total else "")
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if DISPLAY is not None:
            DISPLAY(self.label, self._moved(), self.total, True)
        elapsed = max(time.monotonic() - self._started, 1e-6)
        if kind is not None:
            self.log.info("%s: stopped after %.1f s", self.label, elapsed)
            return
        moved = self._moved()
        if moved:
            self.log.info("%s: done, %s in %.1f s (%.1f MiB/s)", self.label, _mib(moved), elapsed, moved / MIB / elapsed)
        else:
            self.log.info("%s: done in %.1f s", self.label, elapsed)

    def _moved(self) -> int:
        if self.position is not None:
            try:
                return int(self.position())
            except (OSError, ValueError):
                return self.done
        return self.done

    def _loop(self) -> None:
        logged = time.monotonic()
        while not self._stop.wait(TICK if DISPLAY is not None else self.interval):
            if DISPLAY is not None:
                DISPLAY(self.label, self._moved(), self.total, False)
                if time.monotonic() - logged < self.interval:
                    continue
            logged = time.monotonic()
            elapsed = time.monotonic() - self._started
            moved = self._moved()
            if moved and self.total:
                self.log.info("%s: %s of %s (%d%%), %.0f s", self.label, _mib(moved), _mib(self.total),
                              min(100, moved * 100 // self.total), elapsed)
            elif moved:
                self.log.info("%s: %s, %.0f s", self.label, _mib(moved), elapsed)
            else:
                self.log.info("%s: running for %.0f s", self.label, elapsed)

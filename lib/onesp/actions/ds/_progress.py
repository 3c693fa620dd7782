"""Progress lines in the log while a long transfer runs.

A background thread writes a line every ``INTERVAL`` seconds with what has moved so far
(when the caller can tell) and the elapsed time; leaving the block writes one summary line
with the rate. The thread only reads: it never touches the action's state or undo stack.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Callable, Optional, Type

INTERVAL = 15.0
MIB = 1024 * 1024


def _mib(count: int) -> str:
    return "%.1f MiB" % (count / MIB)


class Progress:
    """``with Progress(log, "download x", total, position): ...``"""

    def __init__(self, log: Any, label: str, total: Optional[int] = None,
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
        while not self._stop.wait(self.interval):
            elapsed = time.monotonic() - self._started
            moved = self._moved()
            if moved and self.total:
                self.log.info("%s: %s of %s (%d%%), %.0f s", self.label, _mib(moved), _mib(self.total),
                              min(100, moved * 100 // self.total), elapsed)
            elif moved:
                self.log.info("%s: %s, %.0f s", self.label, _mib(moved), elapsed)
            else:
                self.log.info("%s: running for %.0f s", self.label, elapsed)

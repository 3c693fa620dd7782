"""How SIGTERM and SIGINT reach an action: as ``Interrupted``, but never inside a StorPool call.

A StorPool call cut in half leaves the action not knowing whether it took effect (a volume
created, an attachment made), so its undo could miss it. Inside ``deferred()`` a signal is
only noted and raised as ``Interrupted`` as soon as the call returns, with its effect known.
Host commands are not deferred: they may run for long (image conversion, copies), so they
are stopped instead, their whole process group with them (see ``host``).
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator, Optional

from .errors import Interrupted

_depth = 0
_pending: Optional[int] = None


def interrupted(signum: int) -> Interrupted:
    return Interrupted("stopped by signal %d (%s)" % (signum, signal.Signals(signum).name), signum)


def deliver(signum: int) -> None:
    """Called by the signal handler: raise now, or remember for the end of the deferred call."""
    global _pending
    if _depth:
        _pending = signum
        return
    raise interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGINT until the enclosed call returns (or fails)."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            signum, _pending = _pending, None
            raise interrupted(signum)

"""StorPool API emulator: HTTP JSON API, persistent state, sparse-file volumes, test hooks.

``StorPoolSim`` runs it in-process; ``command.storpool`` is the CLI group
(``onesp sim storpool serve``); ``control.SimControl`` drives the ``/_sim/`` test hooks.
"""

from __future__ import annotations

from .sim import StorPoolSim, new_token

__all__ = ["StorPoolSim", "new_token"]

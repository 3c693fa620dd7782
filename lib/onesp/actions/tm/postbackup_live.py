"""tm postbackup_live: the same cleanup as postbackup, after a backup of a running VM."""

from __future__ import annotations

from typing import Any

from .postbackup import cleanup


def run(ctx: Any) -> None:
    cleanup(ctx)

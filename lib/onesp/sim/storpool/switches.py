"""The emulator's behaviour switches, changeable at run time through ``/_sim/config``."""

from __future__ import annotations

from typing import Optional

TIB = 1 << 40


class Options:
    """Behaviour switches, changeable at run time through ``/_sim/config``."""

    def __init__(self) -> None:
        self.gc_delay = 0  # seconds a pending-delete or transient snapshot lingers
        self.name_tags_limit = True  # enforce len(name) + tags <= 200 bytes
        self.max_provisioned: Optional[int] = None  # hard cap on the sum of volume sizes
        self.disk_capacity = TIB  # raw bytes per synthetic disk

"""tm mkswap: a volatile swap disk, ``one-sys-<vm>-<n>-swap``, made as mkimage makes volatile disks.

``mkswap <size MB> <host>:<vm dir>/disk.<n> <vm id> <system ds id>``; the swap area is
written on the host with ``mkswap -L swap`` (MKSWAP), as the addon labels it.
"""

from __future__ import annotations

from typing import Any

from ... import volumes
from .mkimage import make_volatile

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Any) -> None:
    make_volatile(ctx, ctx.tm_args(), swap=True)

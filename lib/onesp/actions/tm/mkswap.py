"""tm mkswap: a volatile swap disk, ``one-sys-<vm>-<n>-swap``, made as mkimage makes volatile disks.

``mkswap <size MB> <host>:<vm dir>/disk.<n> <vm id> <system ds id>``; the swap area is
written on the host with ``mkswap -L swap`` (MKSWAP), as the addon labels it.
"""

from __future__ import annotations

from typing import Any

from .mkimage import make_volatile


def run(ctx: Any) -> None:
    make_volatile(ctx, ctx.tm_args(), swap=True)

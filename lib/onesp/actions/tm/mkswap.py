"""tm mkswap: a volatile swap disk, ``one-sys-<vm>-<n>-swap``, made as mkimage makes volatile disks.

``mkswap <size MB> <host>:<vm dir>/disk.<n> <vm id> <system ds id>``; the swap area is
written on the host with ``mkswap -L swap`` (MKSWAP), as the addon labels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Sequence

from ...runtime import arguments, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from .mkimage import make_volatile

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


@dataclass(frozen=True)
class Args:
    """``mkswap``'s arguments."""

    size_mb: Annotated[int, "<size MB>"]
    dst: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<system ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 4)
        return cls(arguments.size_mb(a[0]), HostPath.parse(a[1], "destination"), arguments.vm_id(a[2]),
                   arguments.ds_id(a[3]))


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    make_volatile(ctx, args.dst, args.size_mb, args.vm_id, args.ds_id, swap=True)

"""tm resize: grow the volume of a VM disk to the new size (oned never shrinks).

``resize <host>:<vm dir>/disk.<n> <size MB> <vm id> <ds id>``. The host sees the new size
of an attached StorPool volume by itself; the guest is told by the VMM driver. The datastore
is the disk's own (oned passes the image datastore of an image disk, the system datastore of
a volatile one), so with SP_DISK_LIMITS there the disk's limits go in the same VolumeUpdate
as the size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Sequence

from ...runtime import arguments, disks, limits, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.errors import BadInput

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


@dataclass(frozen=True)
class Args:
    """``resize``'s arguments."""

    dst: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    size_mb: Annotated[int, "<size MB>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 4)
        return cls(HostPath.parse(a[0], "disk"), arguments.size_mb(a[1]), arguments.vm_id(a[2]), arguments.ds_id(a[3]))


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    if args.dst.disk_id is None:
        raise BadInput("%s is not a disk path" % args.dst)
    vm = ctx.one.vm(args.vm_id)
    disk = vm.disk(args.dst.disk_id)
    ctx.use_datastore(ctx.one.datastore(args.ds_id))
    volume = disks.disk_volume(ctx.names, vm.id, disk)
    volumes.grow(ctx, volume.name, args.size_mb, limits=limits.for_disk(ctx.config, disk))

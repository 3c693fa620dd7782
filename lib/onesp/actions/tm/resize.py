"""tm resize: grow the volume of a VM disk to the new size (oned never shrinks).

``resize <host>:<vm dir>/disk.<n> <size MB> <vm id> <ds id>``. The host sees the new size
of an attached StorPool volume by itself; the guest is told by the VMM driver. The datastore
is the disk's own (oned passes the image datastore of an image disk, the system datastore of
a volatile one), so with SP_DISK_LIMITS there the disk's limits go in the same VolumeUpdate
as the size.
"""

from __future__ import annotations

from typing import Any

from ... import disks, limits, volumes
from ...errors import BadInput

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Any) -> None:
    args = ctx.tm_args()
    if args.dst.disk_id is None:
        raise BadInput("%s is not a disk path" % args.dst)
    vm = ctx.one.vm(args.vm_id)
    disk = vm.disk(args.dst.disk_id)
    ctx.use_datastore(ctx.one.datastore(args.ds_id))
    volume = disks.disk_volume(ctx.names, vm.id, disk)
    volumes.grow(ctx, volume.name, args.size_mb, limits=limits.for_disk(ctx.config, disk))

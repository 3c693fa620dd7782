"""tm resize: grow the volume of a VM disk to the new size (oned never shrinks).

``resize <host>:<vm dir>/disk.<n> <size MB> <vm id> <ds id>``. The host sees the new size
of an attached StorPool volume by itself; the guest is told by the VMM driver. With
SP_DISK_LIMITS on the disk's datastore (its image datastore, or the system datastore for a
volatile disk) the disk's limits go in the same VolumeUpdate as the size.
"""

from __future__ import annotations

from typing import Any

from ... import disks, limits, volumes
from ...errors import BadInput


def run(ctx: Any) -> None:
    args = ctx.tm_args()
    if args.dst.disk_id is None:
        raise BadInput("%s is not a disk path" % args.dst)
    vm = ctx.one.vm(args.vm_id)
    disk = vm.disk(args.dst.disk_id)
    ctx.use_datastore(ctx.one.datastore(args.ds_id))
    volume = disks.disk_volume(ctx.names, vm.id, disk)
    volumes.grow(ctx, volume.name, args.size_mb, limits=limits.for_disk(_disk_config(ctx, disk, args.ds_id), disk))


def _disk_config(ctx: Any, disk: Any, ds_id: int) -> Any:
    """The configuration of the datastore the disk belongs to (SP_DISK_LIMITS is read there)."""
    if disk.is_volatile or disk.datastore_id is None or disk.datastore_id == ds_id:
        return ctx.config
    with ctx.step("read datastore %d" % disk.datastore_id):
        datastore = ctx.one.datastore(disk.datastore_id)
    return ctx.base_config.with_datastore(datastore.template, "datastore %s" % datastore.id)

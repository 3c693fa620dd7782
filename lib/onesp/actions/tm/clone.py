"""tm clone: a non-persistent image disk gets its own volume, cloned from the image's.

``clone <fe>:<SOURCE> <host>:<vm dir>/disk.<n> <vm id> <image ds id>``. The volume
``<image volume>-<vm>-<n>`` is created baseOn the image volume in one call that carries
the size (when the disk's SIZE exceeds the image's ORIGINAL_SIZE), the template (only with
NO_VOLUME_TEMPLATE off) and the tags; then it is attached to the host (READONLY_MODE for a
READONLY disk) and ``disk.<n>`` points at its device. Run again after success, it adopts
the volume it made (tags nvm and diskid) and changes nothing.
"""

from __future__ import annotations

from ...runtime import disks, volumes
from ...runtime.actioncontext import Context
from ...runtime.errors import BadInput
from ._common import ImageDiskArgs, check_source, ensure_clone, link_disk, load_disk

#: ``clone``'s arguments, the same as ``ln``'s.
Args = ImageDiskArgs

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    ref = load_disk(ctx, args.dst, args.vm_id, args.ds_id)
    if not ref.volume.per_vm:
        raise BadInput("disk %d of VM %d is persistent (CLONE=NO): oned links it with ln, not clone"
                       % (ref.disk_id, ref.vm_id))
    check_source(ctx, args.image.source, ref, ref.volume.base)
    qos = disks.qos_vm_disk(ctx.config, ref.vm, ref.disk_id, ref.system_ds)
    created = ensure_clone(ctx, ref, qos)
    link_disk(ctx, args.dst.host, ref.volume.name, args.dst.path, readonly=ref.volume.readonly,
              system_ds=ref.system_ds, attach_undo=created)

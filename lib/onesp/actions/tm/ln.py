"""tm ln: a persistent image disk uses the image's own volume (CDROMs get a per-VM clone).

``ln <fe>:<SOURCE> <host>:<vm dir>/disk.<n> <vm id> <image ds id>``. Refused as by the addon:
SHAREABLE images, and IMMUTABLE ones (CLONE=NO, SAVE=NO, READONLY=YES) unless they are
CDROMs. A CDROM is cloned into ``<image volume>-<vm>-<n>`` (type CDROM) so the image can be
attached to several VMs; any other persistent disk is the image volume itself, tagged for
this VM (type PERS or PERSRO), given the disk's limits with SP_DISK_LIMITS (in the same
update as its tags) and attached rw (READONLY_MODE when READONLY).

The addon force-detaches the volume from every client first. Here only the hosts of this
VM's own history are considered, and without force: a stale attachment left there is
removed, but a device still open on another host (a VM running there after a split brain)
makes the action fail with a clear line instead of ripping the disk away from it.
"""

from __future__ import annotations

from ...runtime import disks, limits, volumes
from ...runtime.actioncontext import Context
from ...runtime.errors import BadInput, NotFound, Unsupported
from ...runtime.storpoolerrors import ApiNotFound
from ._common import DiskRef, ImageDiskArgs, check_source, disk_tags, ensure_clone, link_disk, load_disk, release_other_hosts

#: ``ln``'s arguments, the same as ``clone``'s.
Args = ImageDiskArgs

#: Where this action stops rolling back: releasing closed attachments on hosts the VM has left (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.RELEASE


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    ref = load_disk(ctx, args.dst, args.vm_id, args.ds_id)
    disk = ref.disk
    if disk.shareable:
        raise Unsupported("disk %d of VM %d: SHAREABLE persistent images are not supported" % (ref.disk_id, ref.vm_id))
    if disk.is_immutable and not disk.is_cdrom:
        raise Unsupported("disk %d of VM %d: IMMUTABLE images are supported only as CDROM" % (ref.disk_id, ref.vm_id))
    base = ref.volume.base if ref.volume.per_vm else ref.volume.name
    check_source(ctx, args.image.source, ref, base)
    if disk.is_cdrom:
        _link_cdrom(ctx, args, ref)
    elif ref.volume.per_vm:
        raise BadInput("disk %d of VM %d is not persistent (CLONE=YES): oned clones it with clone, not ln"
                       % (ref.disk_id, ref.vm_id))
    else:
        _link_persistent(ctx, args, ref)


def _link_cdrom(ctx: Context, args: Args, ref: DiskRef) -> None:
    qos = disks.qos_persistent(ctx.config, ref.vm, ref.disk_id, None, ref.system_ds, None, cdrom=True)
    created = ensure_clone(ctx, ref, qos)
    release_other_hosts(ctx, ref.vm, [ref.volume.name], args.dst.host)
    link_disk(ctx, args.dst.host, ref.volume.name, args.dst.path, readonly=True, system_ds=ref.system_ds,
              attach_undo=created)


def _link_persistent(ctx: Context, args: Args, ref: DiskRef) -> None:
    name = ref.volume.name
    disk_limits = limits.for_disk(ctx.config, ref.disk)
    image = None
    if ref.disk.image_id is not None:
        with ctx.step("read image %d" % ref.disk.image_id):
            image = ctx.one.image(ref.disk.image_id)
    qos = disks.qos_persistent(ctx.config, ref.vm, ref.disk_id, image, ref.system_ds, ref.datastore)
    with ctx.step("read volume %s" % name):
        try:
            before = ctx.sp.volume(name)
        except ApiNotFound as exc:
            raise NotFound("the volume of image %s does not exist" % ref.disk.image_id) from exc
    release_other_hosts(ctx, ref.vm, [name], args.dst.host)
    volumes.retag(ctx, name, disk_tags(ctx, ref, qos), previous=before.get("tags", {}), limits=disk_limits,
                  previous_limits=limits.current(before))
    link_disk(ctx, args.dst.host, name, args.dst.path, readonly=ref.volume.readonly, system_ds=ref.system_ds)


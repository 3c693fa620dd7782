"""tm mvds: give a persistent disk back to its image when the VM is done with it.

``mvds <host>:<vm dir>/disk.<n> <SOURCE> <vm id> <image ds id>``. The disk's volume is
detached from every client (forced unless READONLY), loses the VM's tags (nvm, vc-policy,
type, diskid) and gets the image's QoS class (image > image datastore > DEFAULT_QOSCLASS)
and, when the image datastore opts in to SP_DISK_LIMITS, no IOPS or bandwidth limit (they
were the disk's);
when SOURCE names another volume (a deferred save-as) it is renamed to it in the same
call. With VMSNAPSHOT_DELETE_ON_TERMINATE the VM snapshots of the disk go, by the exact
names the VM document records. Finally ``disk.<n>`` is removed on the host (skipped, and
said so, when the host cannot be reached).

Run again after success it finds the volume already renamed and only re-applies what is
already true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Dict, Optional, Sequence

from ...runtime import arguments, attaching, disks, limits, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.errors import NotFound, OnespError
from ...runtime.storpoolerrors import ApiBusy, ApiNotFound
from ._common import DiskRef, delete_vm_snapshots, load_disk, on_host

if TYPE_CHECKING:
    from ...one import Image
    from ...runtime.limits import DiskLimits
    from ...runtime.storpoolanswers import Volume

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


@dataclass(frozen=True)
class Args:
    """``mvds``'s arguments."""

    src: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    source: Annotated[str, "<SOURCE>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<image ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 4)
        return cls(HostPath.parse(a[0], "disk"), arguments.image_source(a[1]), arguments.vm_id(a[2]),
                   arguments.ds_id(a[3]))


def run(ctx: Context) -> Optional[str]:
    args = Args.parse(ctx.action, ctx.argv)
    ref = load_disk(ctx, args.src, args.vm_id, args.ds_id)
    current = ref.volume.name
    target = ctx.names.volume_from_source(args.source)
    volumes.hold(ctx, target)  # a concurrent run of this line (a retry) ends, rename and undo included, first
    with ctx.step("find the volume of disk %d of VM %d" % (ref.disk_id, ref.vm_id)):
        name, info = _find(ctx, current, target)
    tags = ctx.tags.released(disks.qos_image(ctx.config, _image_of(ctx, target, ref), ref.datastore))
    cleared = limits.NONE if limits.enabled(ctx.config) else None
    _detach_everywhere(ctx, name, args.src.host, ref.volume.readonly)
    if name != target:
        template = None if ctx.config.NO_VOLUME_TEMPLATE else ctx.names.template(ref.datastore.id)
        _rename(ctx, name, target, tags, info, template, cleared)
    else:
        volumes.retag(ctx, name, tags, previous=info.get("tags", {}), limits=cleared,
                      previous_limits=limits.current(info))
    delete_vm_snapshots(ctx, ref.vm, [current])
    if on_host(ctx, args.src.host, "remove %s" % args.src.path, ctx.host(args.src.host).remove, args.src.path):
        return None
    return "host %s is unreachable: the disk is back in its image, removing %s there was skipped" % (
        args.src.host, args.src.path)


def _find(ctx: Context, current: str, target: str) -> "tuple[str, Volume]":
    """The volume to give back: the disk's, or the SOURCE one if an earlier run renamed it already."""
    for name in (current, target) if current != target else (current,):
        info = ctx.sp.volume_or_none(name)
        if info is not None:
            return name, info
    raise NotFound("neither %s nor %s exists: the disk has no volume to give back" % (current, target)
                   if current != target else "volume %s does not exist: the disk has nothing to give back" % current)


def _image_of(ctx: Context, target: str, ref: DiskRef) -> Optional[Image]:
    """The image that owns SOURCE (a save-as target is another image than the disk's)."""
    parsed = ctx.names.parse(target)
    image_id = parsed.image_id if parsed is not None and parsed.kind == "image" else ref.disk.image_id
    if image_id is None:
        return None
    with ctx.step("read image %d" % image_id):
        try:
            image: Image = ctx.one.image(image_id)
            return image
        except NotFound:
            ctx.log.info("image %d is gone; its QoS class is not used", image_id)
            return None


def _detach_everywhere(ctx: Context, name: str, host: str, readonly: bool) -> None:
    """Detach from all clients; on failure later the disk is attached to its host again."""
    ctx.undo(_attach_again, ctx, name, host, readonly, label="attach %s to %s again" % (name, host))
    with ctx.step("detach %s from all hosts" % name):
        try:
            attaching.detach_all(ctx, name, force=not readonly, no_undo="_attach_again, registered first")
        except ApiBusy as exc:
            if not readonly:
                raise
            ctx.log.warning("READONLY volume %s stays attached where it is open: %s", name, exc)


def _attach_again(ctx: Context, name: str, host: str, readonly: bool) -> None:
    try:
        client = ctx.client_id(host)
    except OnespError as exc:
        ctx.log.info("not attaching %s to %s again: %s", name, host, exc)
        return
    try:
        attaching.attach_to(ctx, name, client, readonly=readonly and ctx.config.READONLY_MODE.lower() == "ro")
    except ApiNotFound:
        pass


def _rename(ctx: Context, name: str, target: str, tags: Dict[str, str], info: Volume,
            template: Optional[str], cleared: Optional[DiskLimits] = None) -> None:
    """Rename to SOURCE (deferred save-as) with the released tags, in one call.

    The undo is registered first, so a rename whose answer was lost is reverted as well;
    it does nothing when no volume has the new name, or when the old one still exists.
    """
    policy = cleared.kwargs() if cleared is not None else {}
    volumes.rename_released(ctx, name, target, tags, info, template, policy,
                            limits.current(info) if cleared is not None else {})

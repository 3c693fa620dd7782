"""tm cpds: save-as — copy a disk (its current state or one of its snapshots) into a new image.

``cpds <host>:<vm dir>/disk.<n> <SOURCE> <snap id> <vm id> <image ds id>``. The target volume
is the one SOURCE names (ds mkfs reserved it for the save_as image); it is created in one
call: baseOn the disk's volume for snap id -1 (the current state), or from the disk
snapshot ``<volume>-snap<N>``. It carries the image's tags only (virt, nloc, qc from the image
datastore or DEFAULT_QOSCLASS), the template of the image datastore unless
NO_VOLUME_TEMPLATE and, when that datastore opts in to SP_DISK_LIMITS, no IOPS or bandwidth
limit: those are the disk's (set by the action that made it), not the new image's, which
would otherwise inherit them with its data. With DISK_SAVEAS_FSFREEZE the guest of a running VM is frozen around
the copy of its current state, and always thawed.

A target left by an earlier, interrupted run is replaced as the addon does, through
DELAY_DELETE so its data stays recoverable for that time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Dict, Optional, Sequence

from ...runtime import arguments, disks, libvirt, limits, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.storpoolerrors import ApiExists
from ._common import load_disk

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION

#: LCM_STATE HOTPLUG_SAVEAS: save-as of a running VM (poweroff and suspended have their own states).
LCM_HOTPLUG_SAVEAS = 26


@dataclass(frozen=True)
class Args:
    """``cpds``'s arguments."""

    src: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    source: Annotated[str, "<SOURCE>"]
    snap_id: Annotated[int, "<snap id>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<image ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 5)
        return cls(HostPath.parse(a[0], "disk"), arguments.image_source(a[1]), arguments.snap_id(a[2]),
                   arguments.vm_id(a[3]), arguments.ds_id(a[4]))


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    ref = load_disk(ctx, args.src, args.vm_id, args.ds_id)
    target = ctx.names.volume_from_source(args.source)
    source = ref.volume.name
    parent = None if args.snap_id == -1 else ctx.names.disk_snapshot(source, args.snap_id)
    tags = ctx.tags.image(disks.qos_datastore(ctx.config, ref.datastore))
    template = None if ctx.config.NO_VOLUME_TEMPLATE else ctx.names.template(ref.datastore.id)
    live = parent is None and ref.vm.lcm_state == LCM_HOTPLUG_SAVEAS and ctx.config.DISK_SAVEAS_FSFREEZE
    with libvirt.frozen(ctx, args.src.host, ref.vm.deploy_id, enabled=live):
        _copy(ctx, target, source, parent, template, tags)


def _copy(ctx: Context, target: str, source: str, parent: Optional[str], template: Optional[str],
          tags: Dict[str, str]) -> None:
    try:
        _create(ctx, target, source, parent, template, tags)
    except ApiExists:
        existing = ctx.sp.volume_or_none(target)
        if parent and existing is not None and existing.get("parentName") == parent:
            ctx.log.info("volume %s is already a copy of %s (an earlier run), keeping it", target, parent)
            return
        ctx.log.warning("volume %s exists from an interrupted save-as; replacing it (kept for DELAY_DELETE)", target)
        volumes.delete(ctx, target, tags=tags)
        _create(ctx, target, source, parent, template, tags)


def _create(ctx: Context, target: str, source: str, parent: Optional[str], template: Optional[str],
            tags: Dict[str, str]) -> None:
    what = "snapshot %s" % parent if parent else "volume %s" % source
    with ctx.step("copy %s to volume %s" % (what, target)):
        volumes.create_new(ctx, target, base_on=None if parent else source, parent=parent, template=template,
                           tags=tags, **(limits.NONE.kwargs() if limits.enabled(ctx.config) else {}))

"""tm snap_create: snapshot a VM disk's volume as ``<volume>-snap<snap id>`` (VM powered off or suspended).

``snap_create <host>:<vm dir>/disk.<n> <snap id> <vm id> <ds id>``. Works for image disks
and for volatile disks on a StorPool system datastore; a CD-ROM is refused with one line.
DISKSNAPSHOT_LIMIT refuses the snapshot that would exceed it. Re-running the line when
the snapshot is already there (taken from this volume) succeeds without a second one.
"""

from __future__ import annotations

from ...runtime import libvirt, volumes
from ...runtime.actioncontext import Context
from . import _snapshots as snapshots

#: ``snap_create``'s arguments, the same as every snap_* action's.
Args = snapshots.SnapshotArgs

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def create(ctx: Context, args: snapshots.SnapshotArgs, live: bool) -> None:
    t = snapshots.target(ctx, args)
    snapshots.refuse_cdrom(t)
    snapshots.check_limit(ctx, t)
    freeze = live and ctx.config.DISK_SNAPSHOT_FSFREEZE
    with libvirt.frozen(ctx, t.host, t.vm.deploy_id, enabled=freeze):
        snapshots.take(ctx, t)


def run(ctx: Context) -> None:
    create(ctx, Args.parse(ctx.action, ctx.argv), live=False)

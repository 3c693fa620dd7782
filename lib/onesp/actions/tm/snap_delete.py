"""tm snap_delete: delete the disk snapshot ``<volume>-snap<snap id>``.

``snap_delete <host>:<vm dir>/disk.<n> <snap id> <vm id> <ds id>``. Exactly that
snapshot (detached from every client first); one that is already gone is success.
StorPool keeps the data newer snapshots or the volume still need.
"""

from __future__ import annotations

from ...runtime import snapshotting, volumes
from ...runtime.actioncontext import Context
from . import _snapshots as snapshots

#: ``snap_delete``'s arguments, the same as every snap_* action's.
Args = snapshots.SnapshotArgs
#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION



def run(ctx: Context) -> None:
    t = snapshots.target(ctx, Args.parse(ctx.action, ctx.argv))
    if snapshotting.delete_snapshots(ctx, [t.snapshot]) == 0:
        ctx.log.info("snapshot %s is already gone", t.snapshot)

"""tm snap_create_live: snapshot the disk of a running VM.

``snap_create_live <host>:<vm dir>/disk.<n> <snap id> <vm id> <ds id>``, as snap_create,
with the same result. StorPool snapshots are crash-consistent by themselves; with
DISK_SNAPSHOT_FSFREEZE the guest's filesystems are frozen through ``virsh domfsfreeze`` on
the host for the instant of the snapshot and thawed right after, also when the snapshot fails.
"""

from __future__ import annotations

from ...runtime.actioncontext import Context
from . import _snapshots as snapshots
from .snap_create import create

#: ``snap_create_live``'s arguments, the same as every snap_* action's.
Args = snapshots.SnapshotArgs


def run(ctx: Context) -> None:
    create(ctx, Args.parse(ctx.action, ctx.argv), live=True)

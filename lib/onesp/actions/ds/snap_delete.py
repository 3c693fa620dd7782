"""ds snap_delete: delete snapshot TARGET_SNAPSHOT of a persistent image, ``<volume>-snap<N>``.

Detached from every client first; a snapshot that is already gone counts as deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime import snapshotting, volumes
from . import _common as common

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> None:
    image, _ = common.action_image(ctx)
    _, snapshot = common.target_snapshot(ctx, image)
    if not snapshotting.delete_snapshots(ctx, [snapshot]):
        ctx.log.info("snapshot %s is already gone", snapshot)

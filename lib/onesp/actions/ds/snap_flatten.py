"""ds snap_flatten: keep snapshot TARGET_SNAPSHOT's data as the image and drop all its snapshots.

As the addon: when the volume is not already based on that snapshot it is reverted to it (in
place, see snap_revert), then every snapshot oned lists for the image is deleted by its exact
name ``<volume>-snap<N>``. StorPool folds a deleted parent's data into the volume by itself.
The target snapshot is deleted only after the revert, so when it is missing an earlier run
reverted already: the revert is skipped and the remaining snapshots are deleted (re-runs succeed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime import snapshotting, volumes
from ...runtime.storpoolerrors import ApiNotFound
from . import _common as common

#: Where this action stops rolling back: the revert in place (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.REVERT

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> None:
    image, _ = common.action_image(ctx)
    volume, snapshot = common.target_snapshot(ctx, image)
    with ctx.step("look up volume %s" % volume):
        parent = ctx.sp.volume(volume).get("parentName")
    if parent != snapshot:
        try:
            common.revert(ctx, volume, snapshot)
        except ApiNotFound:
            ctx.log.warning("snapshot %s is gone, so an earlier run flattened onto it; deleting the rest", snapshot)
    names = [ctx.names.disk_snapshot(volume, snap.id) for snap in image.snapshots]
    if snapshot not in names:
        names.append(snapshot)
    snapshotting.delete_snapshots(ctx, names)

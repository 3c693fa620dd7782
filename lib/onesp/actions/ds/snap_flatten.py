"""ds snap_flatten: keep snapshot TARGET_SNAPSHOT's data as the image and drop all its snapshots.

As the addon: when the volume is not already based on that snapshot it is reverted to it (in
place, see snap_revert), then every snapshot oned lists for the image is deleted by its exact
name ``<volume>-snap<N>``. StorPool folds a deleted parent's data into the volume by itself.
"""

from __future__ import annotations

from typing import Any

from ... import volumes
from . import common


def run(ctx: Any) -> None:
    image, _ = common.action_image(ctx)
    volume, snapshot = common.target_snapshot(ctx, image)
    with ctx.step("look up volume %s" % volume):
        parent = ctx.sp.volume(volume).get("parentName")
    if parent != snapshot:
        common.revert(ctx, volume, snapshot)
    names = [ctx.names.disk_snapshot(volume, snap.id) for snap in image.snapshots]
    if snapshot not in names:
        names.append(snapshot)
    volumes.delete_snapshots(ctx, names)

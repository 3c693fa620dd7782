"""ds rm: delete an image's volume, exactly its snapshots, and any leftover staging volume.

The volume ``<px>-img-<id>`` goes the addon's way (detach from every client, REMOTE_BACKUP_DELETE,
DELAY_DELETE anonymous snapshot, delete). Its snapshots are deleted by their exact names
``<volume>-snap<N>`` for the snapshot ids oned lists, never by a substring search over every
snapshot in the cluster, so another image's or another instance's snapshots cannot match. A
staging volume of a failed import is deleted at once (it holds nothing worth keeping).
Whatever is already gone counts as deleted, so a re-run succeeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime import snapshotting, volumes
from . import _common as common

#: Where this action stops rolling back: its first call deleting the volume (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.DELETE_VOLUME

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> None:
    image, _ = common.action_image(ctx)
    volume = ctx.names.image(image.id)
    if image.source and ctx.names.volume_from_source(image.source) != volume:
        ctx.log.warning("image %d has SOURCE %s, which is not its volume %s; only %s is deleted",
                        image.id, image.source, volume, volume)
    volumes.delete(ctx, volume, tags=ctx.tags.instance(), remote_backup=ctx.config.REMOTE_BACKUP_DELETE)
    snapshots = [ctx.names.disk_snapshot(volume, snap.id) for snap in image.snapshots]
    if snapshots:
        snapshotting.delete_snapshots(ctx, snapshots)
    staging = ctx.names.staging(image.id)
    with ctx.step("delete staging volume %s" % staging):
        volumes.delete_now(ctx, staging)

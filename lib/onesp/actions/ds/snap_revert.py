"""ds snap_revert: make a persistent image hold its snapshot TARGET_SNAPSHOT again.

StorPool's in-place VolumeRevert replaces the addon's rename, re-create from the snapshot and
delayed delete of the old volume: the volume keeps its name, globalId, tags and template, no
temporary volume or 48 h anonymous snapshot is left, and nothing can be lost half-way. The
image must not be attached anywhere (StorPool refuses; the action says busy). Afterwards the
tags are set as the addon sets them: virt, the instance tag and qc (image > datastore >
DEFAULT_QOSCLASS, cleared when none applies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime import volumes
from . import _common as common

#: Where this action stops rolling back: the revert in place (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.REVERT

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> None:
    image, datastore = common.action_image(ctx)
    volume, snapshot = common.target_snapshot(ctx, image)
    common.revert(ctx, volume, snapshot)
    volumes.retag(ctx, volume, common.image_tags(ctx, image, datastore, clear_empty=True))

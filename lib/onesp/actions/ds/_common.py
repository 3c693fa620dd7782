"""What several DS actions share: the image and datastore of the driver action, the image's
volume, its tags and SOURCE line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Tuple

from ...runtime import disks, snapshotting
from ...runtime.errors import AlreadyExists, BadInput, Busy
from ...runtime.storpoolerrors import ApiBusy

if TYPE_CHECKING:
    from ...one import Datastore, Image
    from ...runtime.actioncontext import Context


def action_image(ctx: Context) -> Tuple[Image, Datastore]:
    """(image, datastore) of an image action; the id on argv must be the image's."""
    object_id, action = ctx.ds_action()
    image = action.require_image()
    if image.id != object_id:
        raise BadInput("the driver action is for image %d, not %d" % (image.id, object_id))
    return image, action.datastore


def image_volume(ctx: Context, image: Image) -> str:
    """The image's volume ``<px>-img-<id>``; a SOURCE naming any other volume is refused, so a
    hand-made SOURCE can never direct a delete or revert at somebody else's volume."""
    name = ctx.names.image(image.id)
    if image.source and ctx.names.volume_from_source(image.source) != name:
        raise BadInput("image %d has SOURCE %s, which is not its volume %s" % (image.id, image.source, name))
    return name


def image_tags(ctx: Context, image: Image, datastore: Datastore, clear_empty: bool = False) -> Dict[str, str]:
    """``virt``, the instance tag and ``qc`` (image > its datastore > DEFAULT_QOSCLASS).

    A volume being created gets no ``qc`` when no class applies; an existing one
    (``clear_empty``) gets ``qc`` cleared, as the addon does.
    """
    return ctx.tags.image(disks.qos_image(ctx.config, image, datastore), clear_empty)


def source_line(ctx: Context, ds_id: int, image_id: int, with_format: bool = False) -> str:
    """What cp (``SOURCE raw``), mkfs and clone (``SOURCE``) print."""
    source = ctx.names.source(ds_id, image_id)
    return source + " raw" if with_format else source


def finished_import(ctx: Context, name: str) -> bool:
    """True when ``name`` exists with this instance's tags: an earlier run already made it.

    One single-object read. A volume of that name without our tags is never touched.
    """
    with ctx.step("look up volume %s" % name):
        found = ctx.sp.volume_or_none(name)
    if found is None:
        return False
    if not ctx.tags.is_ours(found.get("tags") or {}):
        raise AlreadyExists("volume %s exists and does not belong to this OpenNebula instance" % name)
    ctx.log.info("volume %s exists from an earlier run of this action; nothing to do", name)
    return True


def target_snapshot(ctx: Context, image: Image) -> Tuple[str, str]:
    """(volume, ``<volume>-snap<TARGET_SNAPSHOT>``) of an image snapshot action."""
    volume = image_volume(ctx, image)
    if image.target_snapshot is None:
        raise BadInput("image %d has no TARGET_SNAPSHOT" % image.id)
    return volume, ctx.names.disk_snapshot(volume, image.target_snapshot)


def revert(ctx: Context, volume: str, snapshot: str) -> None:
    """Make ``volume`` hold ``snapshot``'s data in place (VolumeRevert): name, globalId, tags and
    template stay, so nothing ever exists under a temporary name. StorPool refuses while the
    volume is attached; that is reported as busy, never forced."""
    with ctx.step("revert volume %s to snapshot %s" % (volume, snapshot)):
        try:
            snapshotting.revert(ctx, volume, snapshot)
        except ApiBusy as exc:
            raise Busy("volume %s is attached to a host; an image is reverted only while no VM uses it"
                       % volume) from exc

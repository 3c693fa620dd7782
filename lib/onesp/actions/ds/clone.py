"""ds clone (oneimage clone): a new image ``<px>-img-<id>`` from the volume of IMAGE/CLONING_ID.

One VolumeCreate with ``baseOn`` the source image's volume (StorPool takes the transient
snapshot itself), the target datastore's template and the image tags. The target template is
always given, whatever NO_VOLUME_TEMPLATE says: a clone into another datastore must get that
datastore's placement, not its source's. Cloning between StorPool clusters (datastores with
different API endpoints) is refused. A re-run adopts the clone it made before. Prints SOURCE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime import volumes
from ...runtime.errors import BadInput, Unsupported
from . import _common as common

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION

if TYPE_CHECKING:
    from ...one import Datastore, Image
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> str:
    image, datastore = common.action_image(ctx)
    source_id = image.cloning_id
    if source_id is None:
        raise BadInput("image %d has no CLONING_ID: nothing to clone from" % image.id)
    origin = ctx.names.image(source_id)
    if image.path and ctx.names.volume_from_source(image.path) != origin:
        raise BadInput("image PATH %s is not the volume %s of image %d" % (image.path, origin, source_id))
    same_cluster(ctx, image, source_id, datastore)
    target = ctx.names.image(image.id)
    volumes.create(ctx, target, base_on=origin, template=ctx.names.template(datastore.id),
                   tags=common.image_tags(ctx, image, datastore), owner=ctx.tags.instance())
    return common.source_line(ctx, datastore.id, image.id)


def same_cluster(ctx: Context, image: Image, source_id: int, datastore: Datastore) -> None:
    """Refuse a clone whose source datastore talks to another StorPool API (``source_id``: the CLONING_ID).

    The SOURCE prefix tells when the source is in this very datastore (no oned call); otherwise
    the source image and its datastore are read once each.
    """
    prefix = (image.path or "").split("/", 1)[0] if "/" in (image.path or "") else ""
    if prefix == ctx.names.template(datastore.id):
        return
    with ctx.step("read the datastore of image %d" % source_id):
        source_ds_id = ctx.one.image(source_id).datastore_id
        if source_ds_id == datastore.id:
            return
        theirs = ctx.base_config.with_datastore(ctx.one.datastore(source_ds_id).template, "datastore %d" % source_ds_id)
    ours = ctx.config
    if (theirs.SP_API_HTTP_HOST, theirs.SP_API_HTTP_PORT) != (ours.SP_API_HTTP_HOST, ours.SP_API_HTTP_PORT):
        raise Unsupported("image %d is in datastore %d on the StorPool API at %s:%s; cloning between StorPool "
                          "clusters is not supported" % (source_id, source_ds_id, theirs.SP_API_HTTP_HOST,
                                                         theirs.SP_API_HTTP_PORT))

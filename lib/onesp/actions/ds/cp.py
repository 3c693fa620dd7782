"""ds cp: import an image into ``<px>-img-<id>`` and print ``SOURCE raw``.

From a file or URL (rsync://, restic://, s3:// and the like through OpenNebula's downloader, see
``_downloader``): find out what it is (``qemu-img info``; ``qemu-img check`` refuses damaged
images), check MD5/SHA1, create the staging volume ``<px>-img-<id>-<md5>`` of the virtual size
(rounded up to MiB) with the datastore's template and the image tags, attach it to the worker
(a bridge, or the front-end), write the raw image onto it, detach, and rename it to
``<px>-img-<id>``. Any failure removes
the staging volume; nothing else exists until the final rename. An http(s) URL is read as it
downloads (see ``_stream``): a raw image goes onto the staging volume without being stored on
the front-end, any other is stored once, decompressed, and then written as a file is.

From a StorPool snapshot: one VolumeCreate with that snapshot as parent.

A re-run after success finds ``<px>-img-<id>`` with this instance's tags and only prints the
SOURCE again; a staging volume left by a crashed run is removed and made anew. Unlike the
addon, SOURCE is printed only after the data is in place, and always with its format:
oned 6.0 and later put an image in ERROR when cp's answer has no FORMAT, so
``DS_CP_REPORT_FORMAT=0`` only lets UPDATE_IMAGE_ON_IMPORT run, as it did in the addon. A run
holds the image volume's front-end lock (``volumes.hold``) from its first look to its end, so
two runs started together (oned's and a hand re-run) never share the staging volume or remove
each other's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from ...runtime import attaching, volumes
from ...runtime.errors import AlreadyExists, ConfigError, OnespError
from . import _common as common
from . import _downloader as downloader
from . import _imports as imports
from . import _qemu as qemu
from . import _reading as reading
from . import _snapsource as snapsource
from . import _stream as stream
from . import _transfer as transfer
from . import _worker as worker
from ._download import shown

if TYPE_CHECKING:
    from ...one import Datastore, Image
    from ...runtime.actioncontext import Context

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Context) -> str:
    image, datastore = common.action_image(ctx)
    final = ctx.names.image(image.id)
    output = common.source_line(ctx, datastore.id, image.id, with_format=True)  # oned 6.0+ needs FORMAT
    volumes.hold(ctx, final)  # a concurrent run of this import finishes (or rolls back) first
    update = image_update(ctx, image)
    if common.finished_import(ctx, final):
        return output
    path = imports.required_path(image.path)
    kind = imports.classify(path)
    tags = common.image_tags(ctx, image, datastore)
    template = ctx.names.template(datastore.id)
    if kind == imports.SNAPSHOT:
        import_snapshot(ctx, image, path, final, template, tags)
    else:
        import_data(ctx, image, path, datastore, kind, final, template, tags)
    if update:
        update_image(ctx, image, update)
    return output


def import_snapshot(ctx: Context, image: Image, path: str, final: str, template: str, tags: Dict[str, str]) -> None:
    snapshot = snapsource.snapshot_name(ctx, path, image)
    if path.startswith("SPSNAPSHOT:"):
        snapsource.describe(ctx, snapshot)
    volumes.create(ctx, final, parent=snapshot, template=template, tags=tags)


def import_data(ctx: Context, image: Image, path: str, datastore: Datastore, kind: str, final: str, template: str,
                tags: Dict[str, str]) -> None:
    """Import the bytes at ``path`` (the image's PATH: a file, an http(s) URL or one for OpenNebula's downloader)."""
    staging_dir = datastore.staging_dir or ctx.config.STAGING_DIR
    decompress = not datastore.template.get_flag("NO_DECOMPRESS")
    limit = reading.transfer_limit(datastore) if kind in (imports.URL, imports.DOWNLOADER) else None
    with imports.Fetcher(ctx, staging_dir, decompress, reading.wanted_digests(image), limit,
                         datastore.free_mb) as fetch:
        if kind == imports.URL:
            with stream.UrlImage(ctx, fetch, path) as incoming:
                with ctx.step("download %s" % shown(path)):
                    incoming.begin()
                size = incoming.raw_size(image.size)
                if size is not None:
                    write_raw_stream(ctx, image, datastore, incoming, size, template, tags)
                    local = None
                else:
                    local = incoming.stage()
        elif kind == imports.DOWNLOADER:
            with ctx.step("download %s with OpenNebula's downloader" % shown(path)):
                local = downloader.Downloader(ctx, fetch).download(path)
        else:
            with ctx.step("read image file %s" % path):
                local = fetch.local(path, datastore)
        if local is not None:
            write_local(ctx, image, datastore, local, staging_dir, template, tags)
    staging = ctx.names.staging(image.id)
    attaching.detach(ctx, staging)
    volumes.rename(ctx, staging, final)


def write_local(ctx: Context, image: Image, datastore: Datastore, local: imports.LocalImage, staging_dir: str, template: str,
                tags: Dict[str, str]) -> None:
    """Check, inspect and write a file on the front-end onto a new staging volume."""
    with ctx.step("check the checksums of %s" % local.description):
        imports.verify(image, local)
    with ctx.step("inspect %s" % local.description):
        info = qemu.probe(ctx.config, local.fd, local.description)
        qemu.intact(ctx.config, local.fd, info, local.description)
    ctx.log.info("image %d: %s is %s%s, virtual size %d bytes", image.id, local.description, info.format,
                 " (%s-compressed)" % local.compressed if local.compressed else "", info.virtual_size)
    node = worker.choose(ctx, datastore.bridge_list, image.id)
    staging = ctx.names.staging(image.id)
    create_staging(ctx, staging, info.size_mb, template, tags)
    device = node.attach(ctx, staging)
    transfer.write_image(ctx, node, local, info, device, staging_dir)


def write_raw_stream(ctx: Context, image: Image, datastore: Datastore, incoming: stream.UrlImage, size: int, template: str,
                     tags: Dict[str, str]) -> None:
    """A raw http(s) image onto a new staging volume as it downloads; its checksums checked at the end."""
    ctx.log.info("image %d: %s is raw%s, written onto the volume as it downloads (%d bytes)", image.id,
                 incoming.description, " (%s-compressed)" % incoming.compressed if incoming.compressed else "", size)
    node = worker.choose(ctx, datastore.bridge_list, image.id)
    staging = ctx.names.staging(image.id)
    create_staging(ctx, staging, -(-size // imports.MIB), template, tags)
    device = node.attach(ctx, staging)
    digests = incoming.write(node, device, -(-size // imports.MIB) * imports.MIB)
    with ctx.step("check the checksums of %s" % incoming.description):
        reading.verify_digests(image, digests, incoming.description)


def create_staging(ctx: Context, staging: str, size_mb: int, template: str, tags: Dict[str, str]) -> None:
    """The staging volume, fresh: one left by an interrupted earlier import is removed first."""
    volumes.undo_new_volume(ctx, staging)
    try:
        volumes.create(ctx, staging, size_mb=size_mb, template=template, tags=tags)
    except AlreadyExists:
        ctx.log.info("removing staging volume %s left by an earlier import", staging)
        with ctx.step("remove the old staging volume %s" % staging):
            volumes.delete_now(ctx, staging)
        volumes.create(ctx, staging, size_mb=size_mb, template=template, tags=tags)


def image_update(ctx: Context, image: Image) -> Dict[str, str]:
    """What UPDATE_IMAGE_ON_IMPORT writes into the image template (nothing unless it is on and
    DS_CP_REPORT_FORMAT is 0, as in the addon); DS_CP_FORCE_DEV_PREFIX adds DEV_PREFIX.
    Checked before anything is imported."""
    cfg = ctx.config
    if not cfg.UPDATE_IMAGE_ON_IMPORT or cfg.DS_CP_REPORT_FORMAT or (image.driver or "") == "raw":
        return {}
    update = {"DRIVER": "raw", "FORMAT": "raw"}
    prefix = cfg.DS_CP_FORCE_DEV_PREFIX
    if prefix:
        if not (prefix.isascii() and prefix.isalpha() and prefix.islower()):
            raise ConfigError("DS_CP_FORCE_DEV_PREFIX in %s: expected a device prefix such as sd or vd, got %r"
                              % (cfg.origin("DS_CP_FORCE_DEV_PREFIX"), prefix))
        update["DEV_PREFIX"] = prefix
    return update


def update_image(ctx: Context, image: Image, update: Dict[str, str]) -> None:
    """Tell oned the image is raw now. The data is in place at this point, so a refusal by
    oned is logged, not turned into a failed import."""
    try:
        ctx.one.image_update(image.id, update, append=True)
    except OnespError as exc:  # a termination is no OnespError: it is never caught here
        ctx.log.warning("could not set %s on image %d: %s", " ".join("%s=%s" % kv for kv in update.items()),
                        image.id, exc)

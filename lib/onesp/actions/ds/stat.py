"""ds stat: the size in MB (rounded up) of what cp would import from IMAGE/PATH.

* a local file: its virtual size per ``qemu-img info`` (decompressed first if compressed, up to
  the first MiB only when that is a qcow2 or VMDK header), after the same checks of the open
  file cp makes, so a refused path fails here already;
* an http(s) URL: ``qemu-img info`` on its first MiB (enough for the headers of qcow2 and
  VMDK) and the Content-Length for raw images; when that is not conclusive (VHDX, compressed
  or unsized downloads) the whole file is fetched, as OpenNebula's own fs_size does, within
  the bounds of cp's downloads (see ``_imports.Fetcher``);
* an rsync://, restic://, s3://, ssh:// or rbd:// URL: the same, with the head and the whole file
  read through OpenNebula's downloader (its --max-size) into the same Fetcher; a restored
  backup disk is qcow2, whose header holds the virtual size;
* a snapshot source: the snapshot's size.

oned calls stat with a stub image holding only PATH; the request id on argv is not an image id.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Optional, Tuple

from ...runtime.errors import BadInput
from . import _downloader as downloader
from . import _imports as imports
from . import _qemu as qemu
from . import _snapsource as snapsource
from ._download import shown

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> str:
    _, action = ctx.ds_action()
    path = action.image_path or (action.image.path if action.image is not None else None) or ""
    kind = imports.classify(path)
    if kind == imports.SNAPSHOT:
        snapshot = snapsource.describe(ctx, snapsource.snapshot_name(ctx, path, None))
        return str(snapsource.size_mb(snapshot))
    datastore = action.datastore
    decompress = not datastore.template.get_flag("NO_DECOMPRESS")
    staging_dir = datastore.staging_dir or ctx.config.STAGING_DIR
    with imports.Fetcher(ctx, staging_dir, decompress, free_mb=datastore.free_mb) as fetch:
        if kind == imports.FILE:
            with ctx.step("inspect image file %s" % path):
                header = Header(ctx, path)
                local = fetch.local(path, datastore, header.enough)
                info = header.info or qemu.probe(ctx.config, local.fd, path)
        elif kind == imports.URL:
            with ctx.step("inspect %s" % shown(path)):
                info = url_info(ctx, fetch.head, fetch.download, path, decompress)
        else:
            with ctx.step("inspect %s with OpenNebula's downloader" % shown(path)):
                source = downloader.Downloader(ctx, fetch)
                info = url_info(ctx, source.head, source.download, path, decompress)
    if info.size_mb <= 0:
        raise BadInput("cannot determine the size of %s" % path)
    return str(info.size_mb)


class Header:
    """Ends a decompression once its first MiB is a qcow2 or VMDK header, which holds the size."""

    def __init__(self, ctx: Context, description: str) -> None:
        self.ctx = ctx
        self.description = description
        self.info: Optional[qemu.ImageInfo] = None

    def enough(self, fd: int) -> bool:
        info = _probe_quietly(self.ctx, fd, self.description)
        if info is not None and info.format != "raw":
            self.info = info
        return self.info is not None


def url_info(ctx: Context, head_of: Callable[[str], Tuple[int, Optional[int], bool]],
             download: Callable[[str, Optional[imports.Enough]], imports.LocalImage], url: str,
             decompress: bool) -> qemu.ImageInfo:
    """The image's size from its first MiB (``head_of``), else from all of it (``download``, whose
    decompression stops at the header); ``Fetcher`` or ``_downloader.Downloader`` provide both."""
    description = shown(url)
    head, total, complete = head_of(url)
    compressed = decompress and imports.compression(os.pread(head, 8, 0)) is not None
    if not compressed:
        info = _probe_quietly(ctx, head, description)
        if info is not None and (complete or info.format != "raw"):
            return info
        if info is not None and total:
            return qemu.ImageInfo("raw", total)
    ctx.log.info("the first MiB of %s does not tell its size; fetching all of it", description)
    header = Header(ctx, description)
    local = download(url, header.enough)
    return header.info or qemu.probe(ctx.config, local.fd, description)


def _probe_quietly(ctx: Context, fd: int, description: str) -> Optional[qemu.ImageInfo]:
    """None when qemu-img cannot read a cut-off file (VHDX keeps metadata further in)."""
    try:
        return qemu.probe(ctx.config, fd, description)
    except BadInput as exc:
        ctx.log.debug("qemu-img info on the start of %s: %s", description, exc)
        return None

"""ds stat: the size in MB (rounded up) of what cp would import from IMAGE/PATH.

* a local file: its virtual size per ``qemu-img info`` (decompressed first if compressed), after
  the same RESTRICTED_DIRS / SAFE_DIRS check cp makes, so a refused path fails here already;
* an http(s) URL: ``qemu-img info`` on its first MiB (enough for the headers of qcow2 and
  VMDK) and the Content-Length for raw images; when that is not conclusive (VHDX, compressed
  or unsized downloads) the whole file is fetched, as OpenNebula's own fs_size does;
* an rsync://, restic://, s3://, ssh:// or rbd:// URL: the same, with the head and the whole file
  read through OpenNebula's downloader (its --max-size); a restored backup disk is qcow2, whose
  header holds the virtual size;
* a snapshot source: the snapshot's size.

oned calls stat with a stub image holding only PATH; the request id on argv is not an image id.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from ...errors import BadInput
from . import _downloader as downloader, _imports as imports, _qemu as qemu, _snapsource as snapsource


def run(ctx: Any) -> str:
    _, action = ctx.ds_action()
    path = action.image_path or (action.image.path if action.image is not None else None) or ""
    kind = imports.classify(path)
    if kind == imports.SNAPSHOT:
        snapshot = snapsource.describe(ctx, snapsource.snapshot_name(ctx, path, None))
        return str(snapsource.size_mb(snapshot))
    datastore = action.datastore
    decompress = not datastore.template.get_flag("NO_DECOMPRESS")
    with imports.Fetcher(ctx, datastore.staging_dir or str(ctx.config.STAGING_DIR), decompress) as fetch:
        if kind == imports.FILE:
            with ctx.step("inspect image file %s" % path):
                local = fetch.local(imports.checked_file(path, datastore), path)
                info = qemu.probe(ctx.config, local.path, path)
        elif kind == imports.URL:
            with ctx.step("inspect %s" % imports.shown(path)):
                info = url_info(ctx, fetch.head, fetch.download, path, decompress)
        else:
            with ctx.step("inspect %s with OpenNebula's downloader" % imports.shown(path)):
                source = downloader.Downloader(ctx, fetch)
                info = url_info(ctx, source.head, source.download, path, decompress)
    if info.size_mb <= 0:
        raise BadInput("cannot determine the size of %s" % path)
    return str(info.size_mb)


def url_info(ctx: Any, head_of: Callable[[str], Tuple[str, Optional[int], bool]],
             download: Callable[[str], imports.LocalImage], url: str, decompress: bool) -> qemu.ImageInfo:
    """The image's size from its first MiB (``head_of``), else from all of it (``download``)."""
    description = imports.shown(url)
    head, total, complete = head_of(url)
    with open(head, "rb") as handle:
        compressed = decompress and imports.compression(handle.read(8)) is not None
    if not compressed:
        info = _probe_quietly(ctx, head, description)
        if info is not None and (complete or info.format != "raw"):
            return info
        if info is not None and total:
            return qemu.ImageInfo("raw", total)
    ctx.log.info("the first MiB of %s does not tell its size; fetching all of it", description)
    local = download(url)
    return qemu.probe(ctx.config, local.path, description)


def _probe_quietly(ctx: Any, path: str, description: str) -> Optional[qemu.ImageInfo]:
    """None when qemu-img cannot read a cut-off file (VHDX keeps metadata further in)."""
    try:
        return qemu.probe(ctx.config, path, description)
    except BadInput as exc:
        ctx.log.debug("qemu-img info on the start of %s: %s", description, exc)
        return None

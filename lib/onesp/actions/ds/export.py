"""ds export: offer an image to a marketplace; prints the IMPORT_INFO block.

As the addon: the image volume is snapshotted as ``<volume>-export-<6 random>``, the snapshot is
attached read-only to a bridge (EXPORT_BRIDGE_LIST, else BRIDGE_LIST; one is required), and the
marketplace reads ``ssh://<bridge>:<file>``. The file is the snapshot's device, which stays
attached until the marketplace runs DISPOSE_CMD (``export.delete``); with EXPORT_FILE_FORMAT
raw or qcow2 it is a converted file in a private directory under STAGING_DIR on the bridge, and
the snapshot is removed at once. MD5 and SIZE (MB of the volume) go with it.

EXPORT_QEMU_IMG_ARGS (say ``-c`` to compress a qcow2) is split like a shell and passed as
argv elements before the conversion's own options; no shell sees it. Not carried over:
EXPORT_TRANSPORT other than ssh.
"""

from __future__ import annotations

import os
import posixpath
import re
import string
import sys
from typing import TYPE_CHECKING

from lxml import etree

from ...runtime import snapshotting
from ...runtime.errors import ConfigError, HostError
from ...runtime.naming import unique_token
from . import _common as common
from . import _qemu as qemu
from . import _transfer as transfer
from . import _worker as worker

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context

MIB = 1024 * 1024


def run(ctx: Context) -> str:
    app_id, action = ctx.ds_action()
    image = action.require_image()
    datastore = action.datastore
    volume = common.image_volume(ctx, image)
    bridges = ctx.config.EXPORT_BRIDGE_LIST or datastore.bridge_list
    if not bridges:
        raise ConfigError("export needs a bridge host: set EXPORT_BRIDGE_LIST or BRIDGE_LIST on datastore %d"
                          % datastore.id)
    fmt = ctx.config.EXPORT_FILE_FORMAT.strip().lower()
    if fmt not in ("", "raw", "qcow", "qcow2"):
        raise ConfigError("EXPORT_FILE_FORMAT %s: use raw or qcow2 (or leave it empty to export the device)" % fmt)
    scheme = ctx.config.EXPORT_TRANSPORT.strip() or "ssh"
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise ConfigError("EXPORT_TRANSPORT in %s: expected a URL scheme such as ssh, got %r"
                          % (ctx.config.origin("EXPORT_TRANSPORT"), scheme))
    node = worker.choose(ctx, bridges, app_id)
    with ctx.step("look up volume %s" % volume):
        size_mb = -(-int(ctx.sp.volume(volume)["size"]) // MIB)
    snapshot = ctx.names.temporary(volume, "export", unique_token(3))
    with ctx.step("snapshot %s as %s" % (volume, snapshot)):
        snapshotting.snapshot(ctx, volume, snapshot, tags=ctx.tags.instance())
    device = node.attach(ctx, snapshot, snapshot=True)
    if fmt:
        fmt = "qcow2" if fmt.startswith("qcow") else "raw"
        directory = transfer.remote_directory(ctx, node, ctx.config.STAGING_DIR, prefix="onesp-export")
        exported = posixpath.join(directory, "%s.%s" % (snapshot, fmt))
        with ctx.step("convert %s to %s on %s" % (snapshot, exported, node.name)):
            node.run_long(qemu.export_argv(ctx.config, fmt, device, exported), what="qemu-img convert")
        digest = md5(ctx, node, exported)
        snapshotting.delete_snapshots(ctx, [snapshot])
    else:
        fmt, exported = "raw", device
        digest = md5(ctx, node, exported)
    return import_info(node.name, exported, digest, size_mb, fmt, scheme)


def md5(ctx: Context, node: worker.Worker, path: str) -> str:
    with ctx.step("checksum %s on %s" % (path, node.name)):
        out = node.run_long(["md5sum", "--", path], what="md5sum")
        digest = out.split(" ", 1)[0].strip().lower()
        if len(digest) != 32 or any(c not in string.hexdigits for c in digest):
            raise HostError(node.name, "md5sum", "unexpected answer %r" % out[:80])
    return digest


def import_info(host: str, path: str, digest: str, size_mb: int, fmt: str, scheme: str = "ssh") -> str:
    """The ``<IMPORT_INFO>`` block the marketplace driver reads (``IMPORT_SOURCE`` is
    ``<EXPORT_TRANSPORT>://<bridge>:<file>``)."""
    dispose = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0] or ".")), "export.delete")
    root = etree.Element("IMPORT_INFO")
    for tag, value in (("IMPORT_SOURCE", "%s://%s:%s" % (scheme, host, path)), ("MD5", digest), ("SIZE", str(size_mb)),
                       ("FORMAT", fmt), ("DISPOSE", "YES"), ("DISPOSE_CMD", "%s %s %s" % (dispose, host, path))):
        etree.SubElement(root, tag).text = etree.CDATA(value) if tag != "DISPOSE" else value
    return etree.tostring(root, encoding="unicode", pretty_print=True)

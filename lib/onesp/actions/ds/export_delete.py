"""ds export.delete ``<host> <file>``: the marketplace's DISPOSE_CMD after it read an export.

``<file>`` is what ``export`` handed out, and nothing else is touched: the device of an export
snapshot ``<px>-img-<id>-export-<token>`` (detached everywhere and deleted), or a converted
file in an ``onesp-export.<random>`` directory on the host (the directory is removed). What is
already gone counts as removed.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from ...runtime import snapshotting
from ...runtime.errors import BadInput
from ...runtime.hostexec import check_host, check_path

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context

_EXPORT_DIRECTORY = re.compile(r"onesp-export\.[0-9a-f]{12}\Z")  # _transfer.remote_directory


def run(ctx: Context) -> None:
    if len(ctx.argv) != 2:
        raise BadInput("usage: export.delete <host> <file>, got %d arguments" % len(ctx.argv))
    host, path = check_host(ctx.argv[0]), check_path(ctx.argv[1])
    name = posixpath.basename(path)
    if posixpath.dirname(path) == check_path(ctx.config.SP_DEV_DIR):
        snapshot = export_snapshot(ctx, name)
        if not snapshotting.delete_snapshots(ctx, [snapshot]):
            ctx.log.info("export snapshot %s is already gone", snapshot)
        return
    directory = posixpath.dirname(path)
    if not _EXPORT_DIRECTORY.match(posixpath.basename(directory)):
        raise BadInput("refusing to remove %s: not an export of this driver" % path)
    export_snapshot(ctx, name.rsplit(".", 1)[0])
    with ctx.step("remove %s on %s" % (directory, host)):
        ctx.host(host).run(["rm", "-rf", "--", directory], what="rm %s" % directory)


def export_snapshot(ctx: Context, name: str) -> str:
    """``name`` if it is exactly an export snapshot of an image volume of this instance."""
    volume, sep, token = name.rpartition("-export-")
    parsed = ctx.names.parse(volume) if sep else None
    if parsed is None or parsed.kind != "image" or ctx.names.temporary(volume, "export", token) != name \
            or not re.match(r"[a-z0-9]{6}\Z", token):
        raise BadInput("refusing to remove %s: not an export snapshot of this driver" % name)
    return name

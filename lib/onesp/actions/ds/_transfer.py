"""Writing an image from the front-end onto an attached volume's device on the worker.

* Worker = the front-end: ``qemu-img convert -n -f <fmt> -O raw /dev/stdin <device>`` with the
  checked file's descriptor as stdin (never its name again).
* Worker = a bridge, raw image: the file is streamed over the host connection into
  ``dd of=<device>`` (no copy on the bridge, no second volume).
* Worker = a bridge, other formats: qemu-img needs random access, so the file is streamed into
  a private ``mktemp -d`` directory under STAGING_DIR on the bridge, converted from there, and
  the directory removed (also when anything fails).

Commands are argv lists; a path or URL never reaches a shell unquoted.
"""

from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING, Sequence

from ...runtime.hostexec import Stdin, check_path
from ...runtime.naming import unique_token
from ...runtime.progress import Progress
from ._imports import LocalImage
from ._qemu import SOURCE, ImageInfo, convert_argv
from ._worker import Worker

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def write_image(ctx: Context, worker: Worker, image: LocalImage, info: ImageInfo, device: str, staging_dir: str) -> None:
    """Make ``device`` (at least ``info.size_mb`` big) hold the image's raw content."""
    if worker.local:
        with image.reader() as handle:
            convert(ctx, worker, SOURCE, info, device, image.description, stdin=handle)
        return
    if info.format == "raw":
        stream(ctx, worker, image, ["dd", "of=" + device, "bs=1M", "iflag=fullblock", "conv=notrunc,fsync",
                                    "status=none"], device)
        return
    directory = remote_directory(ctx, worker, staging_dir)
    copy = posixpath.join(directory, "image." + info.format)
    stream(ctx, worker, image, ["dd", "of=" + copy, "bs=1M", "iflag=fullblock", "status=none"], copy)
    convert(ctx, worker, copy, info, device, image.description)
    with ctx.step("remove %s on %s" % (directory, worker.name)):
        worker.host.run(["rm", "-rf", "--", directory], what="rm %s" % directory)


def convert(ctx: Context, worker: Worker, source: str, info: ImageInfo, device: str, description: str,
            stdin: Stdin = None) -> None:
    label = "convert %s (%s, %d MiB) onto %s on %s" % (description, info.format, info.size_mb, device, worker.name)
    with ctx.step(label), Progress(ctx.log, label):
        worker.run_long(convert_argv(ctx.config, info.format, source, device), what="qemu-img convert", stdin=stdin)


def stream(ctx: Context, worker: Worker, image: LocalImage, argv: Sequence[str], target: str) -> None:
    """Feed the local file to ``argv`` on the worker; the shared file offset shows the progress."""
    label = "copy %s to %s on %s" % (image.description, target, worker.name)
    with ctx.step(label), image.reader() as handle:
        with Progress(ctx.log, label, image.size, lambda: os.lseek(handle.fileno(), 0, os.SEEK_CUR)):
            worker.run_long(argv, stdin=handle, what="dd to %s" % target)


def remote_directory(ctx: Context, worker: Worker, staging_dir: str, prefix: str = "onesp-import") -> str:
    """A fresh private directory ``<staging_dir>/<prefix>.<random>`` on the worker; removed if the action fails.

    The name is drawn here (not by mktemp on the host), so its removal is registered before the
    command runs: a SIGTERM after the directory was made but before the answer arrived still
    removes it. ``mkdir -m 700`` fails if the name exists, and follows no link.
    """
    base = check_path(staging_dir)
    directory = check_path(posixpath.join(base, "%s.%s" % (prefix, unique_token(6))))
    ctx.undo(worker.host.run, ["rm", "-rf", "--", directory], what="rm %s" % directory,
             label="remove %s on %s" % (directory, worker.name))
    with ctx.step("make a temporary directory in %s on %s" % (base, worker.name)):
        worker.host.run(["mkdir", "-m", "700", "--", directory], what="mkdir %s" % directory)
    return directory

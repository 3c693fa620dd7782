"""Front-end files named by attributes a VM or image owner controls, opened only inside
directories the administrator configured.

Why not check the string: a path that looks like ``/var/lib/one/remotes/OVMF/x.fd`` can be
a symlink to ``/etc/one/one_auth``, or go through a symlinked directory, and a check of the
name followed by a second open races with whoever renames things in between. So the file
is opened once — without following a symlink in its last component, with ``O_PATH`` so
that opening a device node has no side effect — and judged by what was opened: its real
path (the kernel's, from ``/proc/self/fd``) must lie under one of the allowed directories
(themselves resolved) and it must be a regular file. Only then is it re-opened for reading
through that same descriptor, so the bytes read are those of the file that was judged.

A name is first compared with the directories as a string too, so a path that is plainly
elsewhere is refused without being opened at all.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO, Sequence, Tuple

from .errors import BadInput

#: ``O_PATH`` (Linux): open for fstat/readlink only; a device or FIFO is not really opened.
_O_PATH = getattr(os, "O_PATH", 0)


def inside(path: str, directories: Sequence[str]) -> bool:
    """``path`` is one of ``directories`` or below one (compared as strings: pass real paths)."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in directories)


def resolve(name: str, directories: Sequence[str], what: str) -> str:
    """The path ``name`` stands for: a bare file name is looked up in the first directory,
    anything else must be absolute (no ``.``/``..`` components)."""
    if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BadInput("%s %r: invalid file name" % (what, name))
    if not directories:
        raise BadInput("%s %s: no directory is allowed for it (configuration)" % (what, name))
    if "/" not in name:
        if name in (".", ".."):
            raise BadInput("%s %s: invalid file name" % (what, name))
        return os.path.join(directories[0], name)
    if not name.startswith("/"):
        raise BadInput("%s %s: not a bare file name and not an absolute path" % (what, name))
    if any(part in (".", "..") for part in name.split("/")):
        raise BadInput("%s %s: relative components" % (what, name))
    return name


def open_confined(name: str, directories: Sequence[str], what: str) -> Tuple[BinaryIO, int, str]:
    """Open ``name`` (see ``resolve``) for reading if, as opened, it is a regular file whose
    real path lies under one of ``directories``; returns (file, size, real path).

    Anything else is one BadInput line naming ``what`` and the name as given.
    """
    path = resolve(name, directories, what)
    allowed = [os.path.realpath(d) for d in directories]
    shown = " ".join(directories)
    if not inside(os.path.normpath(path), [os.path.normpath(d) for d in directories] + allowed):
        raise BadInput("%s %s: not under an allowed directory (%s)" % (what, name, shown))
    try:
        fd = os.open(path, (_O_PATH or (os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)) | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        reason = "it is a symlink" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise BadInput("%s %s: cannot open it: %s" % (what, name, reason)) from exc
    try:
        info = os.fstat(fd)
        real = os.readlink("/proc/self/fd/%d" % fd)
        if stat.S_ISLNK(info.st_mode):  # O_PATH | O_NOFOLLOW opens the link itself
            raise BadInput("%s %s: cannot open it: it is a symlink" % (what, name))
        if not stat.S_ISREG(info.st_mode):
            raise BadInput("%s %s: not a regular file" % (what, name))
        if not inside(real, allowed):
            raise BadInput("%s %s: is %s, not under an allowed directory (%s)" % (what, name, real, shown))
        if _O_PATH:
            reading = os.open("/proc/self/fd/%d" % fd, os.O_RDONLY | os.O_CLOEXEC)
        else:
            reading, fd = fd, -1
            os.set_blocking(reading, True)
    except OSError as exc:
        raise BadInput("%s %s: cannot read it: %s" % (what, name, exc.strerror or exc)) from exc
    finally:
        if fd >= 0:
            os.close(fd)
    handle = os.fdopen(reading, "rb")
    again = os.fstat(handle.fileno())
    if (again.st_dev, again.st_ino) != (info.st_dev, info.st_ino):  # cannot happen through /proc; checked anyway
        handle.close()
        raise BadInput("%s %s: changed while it was opened" % (what, name))
    return handle, info.st_size, real

"""Which front-end file an image may be imported from, judged on the file actually opened.

OpenNebula's rule (SAFE_DIRS win, else RESTRICTED_DIRS and oned's own directories refuse),
applied to the open descriptor's real path rather than to the name, so a file swapped in
after the check is never the one imported; below a directory every local account can write
to, the file must also be one nobody else controls (``_shared_refusal``). ``open_checked``
is the one entry point: its descriptor is what readers and qemu-img use afterwards.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, Optional

from ...runtime.configfiles import one_location
from ...runtime.errors import BadInput, Forbidden, NotFound

if TYPE_CHECKING:
    from ...one import Datastore


def open_checked(path: str, datastore: Datastore) -> int:
    """An open, read-only descriptor of the local source file ``path`` that this datastore may import.

    The file is opened once and judged on what was opened, never again by name, so a file
    swapped in after the check cannot be the one imported: its real path (the kernel's name
    for the open file), its type (regular files only; ``O_NONBLOCK`` keeps a FIFO from
    blocking the open) and, below a directory every local account can write to, its owner and
    links (see ``_shared_refusal``). The path is also judged before the open, so nothing under
    a restricted directory (a device, a FIFO) is ever opened. In a world-writable directory
    the last component may not be a symbolic link.
    """
    _allowed(path, os.path.realpath(path), datastore)
    directory, name = os.path.split(path)
    try:
        parent = os.open(directory or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_error(path, exc) from exc
    try:
        shared = _world_writable(os.fstat(parent).st_mode)
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (os.O_NOFOLLOW if shared else 0)
        try:
            fd = os.open(name or ".", flags, dir_fd=parent)
        except OSError as exc:
            if exc.errno == errno.ELOOP and shared:
                raise Forbidden("image file %s is a symbolic link in %s, a directory every local account can "
                                "write to" % (path, directory)) from exc
            raise _open_error(path, exc) from exc
    finally:
        os.close(parent)
    try:
        _judge_open_file(fd, path, datastore)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_error(path: str, exc: OSError) -> Exception:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound("image file %s does not exist" % path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return BadInput("cannot read image file %s: permission denied" % path)
    return BadInput("cannot open image file %s: %s" % (path, exc.strerror or exc))


def _judge_open_file(fd: int, path: str, datastore: Datastore) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise BadInput("image file %s is not a regular file" % path)
    try:
        real = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:  # no /proc: the resolved name must still be the file that is open
        real = os.path.realpath(path)
        try:
            now = os.stat(real)
        except OSError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            # from None: the missing /proc only chose this check; it does not explain the change
            raise Forbidden("image file %s changed while it was opened" % path) from None
    if info.st_nlink == 0 or not real.startswith("/"):
        raise NotFound("image file %s was removed while it was opened" % path)
    _allowed(path, real, datastore)
    refusal = _shared_refusal(real, info)
    if refusal:
        raise Forbidden("copying image file %s: %s" % (path, refusal))


def _allowed(path: str, real: str, datastore: Datastore) -> None:
    blocked = restricted_by(real, datastore)
    if blocked:
        raise Forbidden("copying image file %s: %s is under restricted %s and under no SAFE_DIRS entry"
                        % (path, real, blocked))


def _world_writable(mode: int) -> bool:
    return bool(mode & stat.S_IWOTH)


def _shared_refusal(real: str, info: os.stat_result) -> Optional[str]:
    """Why a file below a world-writable directory (``/var/tmp``, ``/tmp``) is not imported; None if it is.

    Any local account can put files there, so being there says nothing about who made the
    file. Only a file of the account onesp runs as (oneadmin: Sunstone's uploads are) or of
    root qualifies, with no group or other write permission (nobody else may rewrite it
    between the checks and the copy) and a single link (a hard link another account made to
    a file of oneadmin elsewhere would otherwise carry that file out).
    """
    directory = os.path.dirname(real)
    while True:
        try:
            mode = os.stat(directory).st_mode
        except OSError:
            mode = 0
        if _world_writable(mode):
            break
        if directory == "/":
            return None
        directory = os.path.dirname(directory)
    where = "it is below %s, a directory every local account can write to, " % directory
    if info.st_uid not in (0, os.geteuid()):
        return where + "and belongs to uid %d (only files of oneadmin or root are imported from there)" % info.st_uid
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return where + "and others may write to it"
    if info.st_nlink != 1:
        return where + "and it has %d hard links" % info.st_nlink
    return None


def restricted_by(real: str, datastore: Datastore) -> Optional[str]:
    """The RESTRICTED_DIRS entry that forbids ``real`` (None: allowed), as OpenNebula's check_restricted.

    SAFE_DIRS win and must contain the file as a path prefix (``/var/tmp`` allows
    ``/var/tmp/x``, not ``/var/tmpx``); restricted entries match as plain prefixes, as upstream.
    Without SAFE_DIRS in the datastore template, ``/var/tmp`` is safe, as oned sets it.
    """
    for safe in datastore.safe_dirs or ("/var/tmp",):
        base = os.path.realpath(safe)
        if real == base or real.startswith(base.rstrip("/") + "/"):
            return None
    location = one_location()
    var, etc = (location + "/var/", location + "/etc/") if location else ("/var/lib/one/", "/etc/one/")
    home = os.environ.get("HOME")
    candidates = [var, etc] + ([home.rstrip("/") + "/"] if home else []) + list(datastore.restricted_dirs)
    for restricted in candidates:
        if real.startswith(restricted) or real.startswith(os.path.realpath(restricted)):
            return restricted
    return None

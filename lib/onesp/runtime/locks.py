"""Front-end locks in LOCK_DIR, and the rule for a directory onesp keeps on the front-end.

The directory may sit where any local account can write first (``/run/lock`` is
world-writable and emptied at each boot), so it is never trusted by its name: it is made
0700 if missing, then opened without following a symbolic link, and the descriptor is
checked — a directory of this user that nobody else can write — before anything in it
is used, through that same descriptor. A squatted, linked or shared directory is refused
with one line naming it and the fix; nothing in it is followed or written.
"""

from __future__ import annotations

import io
import os
import stat
from typing import IO

from .errors import ConfigError


def _refuse(setting: str, path: str, problem: str, fix: str) -> ConfigError:
    return ConfigError("%s %s %s; %s, or set %s in addon-storpoolrc to a directory only this user can write"
                       % (setting, path, problem, fix, setting))


def private_directory(path: str, setting: str = "LOCK_DIR") -> int:
    """A descriptor of the directory ``path``, made 0700 if missing; refused unless it is a real
    directory (no symbolic link) owned by this user and writable by no group or other user."""
    parent = os.path.dirname(path.rstrip("/"))
    try:
        if parent:
            os.makedirs(parent, 0o755, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError("%s %s cannot be made: %s" % (setting, path, exc.strerror or exc)) from exc
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise _refuse(setting, path, "is a symbolic link", "remove it") from exc
        if os.path.lexists(path) and not os.path.isdir(path):
            raise _refuse(setting, path, "is not a directory", "remove it") from exc
        raise ConfigError("%s %s cannot be opened: %s" % (setting, path, exc.strerror or exc)) from exc
    info = os.fstat(fd)
    problem = fix = ""
    if info.st_uid != os.geteuid():
        problem = "belongs to uid %d, not to this user (uid %d)" % (info.st_uid, os.geteuid())
        fix = "remove it as root (another account made it first)"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = "is writable by other users (mode %04o)" % stat.S_IMODE(info.st_mode)
        fix = "chmod 700 it"
    if problem:
        os.close(fd)
        raise _refuse(setting, path, problem, fix)
    return fd


def hold(directory: str, name: str) -> IO[bytes]:
    """Wait for, then hold, the lock ``<directory>/<name>.lock``; closing the returned file
    releases it (and the kernel does if the process dies)."""
    import fcntl

    fd = private_directory(directory)
    try:
        path = "%s.lock" % name
        try:
            lock = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600,
                           dir_fd=fd)
        except OSError as exc:
            raise _refuse("LOCK_DIR", directory, "holds %s, which cannot be opened (%s)" % (path, exc.strerror or exc),
                          "remove that file") from exc
    finally:
        os.close(fd)
    handle = io.FileIO(lock, "r+")
    if not stat.S_ISREG(os.fstat(lock).st_mode):
        handle.close()
        raise _refuse("LOCK_DIR", directory, "holds %s, which is not a plain file" % path, "remove it")
    fcntl.flock(lock, fcntl.LOCK_EX)
    return handle

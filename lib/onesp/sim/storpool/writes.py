"""Which backing files were written since the last look (Linux inotify on the objects directory).

A real StorPool sees every write, so its space figures follow the data without scanning
anything. The emulator's data is written by other processes straight into the backing
files (through the device links), so it asks the kernel instead: one inotify watch on the
objects directory reports the name of every file modified there (``IN_MODIFY``: write,
truncate, fallocate, from any process, attached or not). Draining the queue costs what was
written since the last call, not what the cluster holds.

``changed()`` answers None when it cannot tell (no inotify on this system, or the kernel's
event queue overflowed): the caller then re-reads every file, as if nothing were known.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import weakref
from pathlib import Path
from typing import Optional, Set

IN_MODIFY = 0x00000002
IN_Q_OVERFLOW = 0x00004000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of NUL-padded name)
_SUFFIX = ".raw"


class WriteWatch:
    """The gids whose ``<gid>.raw`` file was modified since the previous ``changed()``."""

    def __init__(self, objects_dir: Path) -> None:
        self.fd: Optional[int] = None
        self._lost = False
        self._closer: Optional["weakref.finalize[[int], WriteWatch]"] = None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd < 0:
            return
        if libc.inotify_add_watch(fd, os.fsencode(str(objects_dir)), IN_MODIFY) < 0:
            os.close(fd)
            return
        self.fd = fd
        self._closer = weakref.finalize(self, os.close, fd)  # also when a state is dropped unstopped

    def changed(self) -> Optional[Set[str]]:
        if self.fd is None:
            return None
        gids: Set[str] = set()
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            offset = 0
            while offset + _EVENT.size <= len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset:offset + length].rstrip(b"\0").decode("utf-8", "replace")
                offset += length
                if mask & IN_Q_OVERFLOW:
                    self._lost = True
                elif name.endswith(_SUFFIX):
                    gids.add(name[: -len(_SUFFIX)])
        if self._lost:
            self._lost = False
            return None
        return gids

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
        self.fd = None

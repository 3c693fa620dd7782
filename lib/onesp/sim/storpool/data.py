"""Backing files with real bytes, and the device paths that expose them.

Every volume and snapshot's logical content lives in ``<data>/objects/<globalId>.raw``,
a sparse file of the object's size. The file is created lazily: an object without one
reads as zeros (so seeding 100,000 volumes costs no inodes). A snapshot or clone is a
full logical copy of its source, made by reflink (``FICLONE``) when the filesystem can,
else by a sparse copy that visits only data extents (``SEEK_DATA``/``SEEK_HOLE``) and
skips all-zero chunks, so a 10 GiB mostly-empty disk copies in milliseconds. Snapshot
files are made read-only (0444), as StorPool snapshots are immutable.

Device exposure stands in for ``/dev/storpool`` and ``/dev/storpool-byid``: while an object
is attached to at least one client, ``<dev_dir>/<name>`` and ``<byid_dir>/<globalId>``
are symlinks to its backing file, which any process may open, read and write. The by-id
directory is the sibling ``<dev_dir>-byid`` unless configured otherwise, mirroring the
real pair of directories. All emulated clients share one dev_dir on this machine.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path
from typing import AbstractSet, Dict, Iterable, Tuple

_FICLONE = 0x40049409
_CHUNK = 1 << 20
_DIGEST_BLOCK = 1 << 16
_ZEROS = bytes(_CHUNK)
_NO_REFLINK = (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF, errno.ENOSYS)


class BackingFiles:
    """Sparse files per object and their device symlinks."""

    def __init__(self, objects_dir: Path, dev_dir: Path, byid_dir: Path) -> None:
        self.objects_dir = objects_dir
        self.dev_dir = dev_dir
        self.byid_dir = byid_dir
        for d in (objects_dir, dev_dir, byid_dir):
            d.mkdir(parents=True, exist_ok=True)

    def path(self, gid: str) -> Path:
        return self.objects_dir / (gid + ".raw")

    def exists(self, gid: str) -> bool:
        return os.path.exists(self.path(gid))

    def ensure(self, gid: str, size: int, readonly: bool = False) -> Path:
        """The backing file, created empty (all zeros) if the object never had one."""
        path = self.path(gid)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
            if readonly:
                os.chmod(path, 0o444)
        return path

    def copy(self, src_gid: str, dst_gid: str, size: int, readonly: bool) -> None:
        """Make ``dst`` hold ``src``'s content, cut or zero-extended to ``size`` (replaces dst)."""
        if not copy_file(self.path(src_gid), self.path(dst_gid), size, readonly):
            self.remove(dst_gid)

    def resize(self, gid: str, size: int) -> None:
        path = self.path(gid)
        if path.exists():
            os.truncate(path, size)

    def make_readonly(self, gid: str) -> None:
        path = self.path(gid)
        if path.exists():
            os.chmod(path, 0o444)

    def remove(self, gid: str) -> None:
        for path in (self.path(gid), self.byid_dir / gid):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def data_bytes(self, gid: str, size: int) -> int:
        """Bytes of allocated data in the object's file (0 without a file), at most its size."""
        try:
            st = os.stat(self.path(gid))
        except FileNotFoundError:
            return 0
        return min(st.st_blocks * 512, size)

    def digest(self, gid: str, size: int) -> str:
        """A digest of the logical content: equal content gives equal digests, holes or not."""
        h = hashlib.sha256(b"%d:" % size)
        path = self.path(gid)
        if not path.exists():
            return h.hexdigest()
        fd = os.open(path, os.O_RDONLY)
        try:
            last = -1
            for start, end in _extents(fd, min(os.fstat(fd).st_size, size)):
                block = start // _DIGEST_BLOCK
                while block * _DIGEST_BLOCK < end:
                    if block > last:
                        off = block * _DIGEST_BLOCK
                        data = os.pread(fd, min(_DIGEST_BLOCK, size - off), off)
                        if data.count(0) != len(data):
                            h.update(off.to_bytes(8, "big"))
                            h.update(data)
                        last = block
                    block += 1
        finally:
            os.close(fd)
        return h.hexdigest()

    # ---- device exposure -------------------------------------------------------------

    def expose(self, gid: str, name: str, size: int, readonly: bool = False) -> None:
        target = self.ensure(gid, size, readonly)
        if name not in (".", ".."):  # valid StorPool names, but not as a directory entry
            _symlink(target, self.dev_dir / name)
        _symlink(target, self.byid_dir / gid)

    def unexpose(self, gid: str, name: str) -> None:
        links = [self.byid_dir / gid]
        if name not in (".", ".."):
            links.append(self.dev_dir / name)
        for link in links:
            if os.path.islink(link):
                os.unlink(link)

    def rename_exposed(self, gid: str, old: str, new: str) -> None:
        old_link = self.dev_dir / old
        if os.path.islink(old_link):
            os.unlink(old_link)
        if new not in (".", ".."):
            _symlink(self.path(gid), self.dev_dir / new)

    def sync_exposure(self, exposed: Dict[str, str], sizes: Dict[str, int], readonly: AbstractSet[str] = frozenset()) -> None:
        """After a restart: links for attached objects exist, links of ours for others do not."""
        ours = str(self.objects_dir)
        wanted = {name for name in exposed.values()}
        for d, keep in ((self.dev_dir, wanted), (self.byid_dir, set(exposed))):
            for entry in os.scandir(d):
                if entry.is_symlink() and os.readlink(entry.path).startswith(ours) and entry.name not in keep:
                    os.unlink(entry.path)
        for gid, name in exposed.items():
            self.expose(gid, name, sizes[gid], gid in readonly)

    def wipe(self) -> None:
        """Remove every backing file and every device link pointing at one."""
        self.sync_exposure({}, {})
        for entry in os.scandir(self.objects_dir):
            os.unlink(entry.path)


_reflink_supported = [True]


def copy_file(src: Path, dst: Path, size: int, readonly: bool) -> bool:
    """Copy ``src`` to ``dst`` (atomically replaced) at ``size`` bytes; False when src is missing."""
    if not src.exists():
        return False
    tmp = dst.with_name(dst.name + ".tmp")
    sfd = os.open(src, os.O_RDONLY)
    try:
        dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            length = min(os.fstat(sfd).st_size, size)
            if not _reflink(sfd, dfd):
                _sparse_copy(sfd, dfd, length)
            os.ftruncate(dfd, size)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)
    if readonly:
        os.chmod(tmp, 0o444)
    os.replace(tmp, dst)
    return True


def _reflink(sfd: int, dfd: int) -> bool:
    """Clone the whole file when the filesystem shares extents (btrfs, xfs); else False."""
    if not _reflink_supported[0]:
        return False
    try:
        fcntl.ioctl(dfd, _FICLONE, sfd)
        return True
    except OSError as exc:
        if exc.errno in _NO_REFLINK:
            _reflink_supported[0] = False
            return False
        raise


def _symlink(target: Path, link: Path) -> None:
    tmp = link.with_name(link.name + "+new")  # "+" never occurs in a StorPool name
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _extents(fd: int, length: int) -> Iterable[Tuple[int, int]]:
    """(start, end) of the data extents of an open file, up to ``length``."""
    off = 0
    while off < length:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return
            raise
        if start >= length:
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), length)
        yield start, end
        off = end


def _sparse_copy(sfd: int, dfd: int, length: int) -> None:
    for start, end in _extents(sfd, length):
        off = start
        while off < end:
            chunk = os.pread(sfd, min(_CHUNK, end - off), off)
            if not chunk:
                break
            if chunk != _ZEROS[: len(chunk)]:
                os.pwrite(dfd, chunk, off)
            off += len(chunk)

"""Where an image to import comes from, and a readable, uncompressed copy of it on the front-end.

IMAGE/PATH is one of

* an absolute path of a file on the front-end, allowed only as OpenNebula allows it: under a
  datastore SAFE_DIRS entry, or else not under RESTRICTED_DIRS (plus oned's own var and etc
  directories and $HOME). The file is opened once and judged on the open file (its real path,
  type, and in world-writable directories its owner and links, see ``_localfile``); readers
  and qemu-img then use that descriptor, never the name again;
* an http(s) URL, downloaded by this process with urllib (never through a shell, no ftp or
  file redirects; see ``_download`` for credentials and slow servers); ``ds cp`` reads it
  through ``_stream`` (raw images straight onto the volume), ``ds stat`` through ``Fetcher``;
* an rsync://, restic://, s3://, ssh:// or rbd:// URL (restored backups, private marketplaces),
  fetched by OpenNebula's own downloader (see ``_downloader``) into the same ``Fetcher`` as an
  http(s) download, so it is bounded, decompressed and held open alike;
* ``SPSNAPSHOT:<name>`` or ``VM:<vm>-DISK:<disk>-VMSNAP:<id>`` (see ``snapsource``).

gzip, bzip2 and xz files are decompressed, as OpenNebula's downloader does, unless the
datastore sets NO_DECOMPRESS. MD5 and SHA1 are computed over the file as given, in the same
pass that downloads or decompresses it. A download keeps to the datastore's
LIMIT_TRANSFER_BW (bytes per second; K, M and G are 1024-based, as curl reads them for
OpenNebula's downloader). Downloads and decompressed files are bounded (see ``Fetcher``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple, Type

from ...runtime.errors import BadInput, ConfigError, Transient, Unsupported
from ...runtime.progress import Progress
from . import _localfile as localfile
from ._download import Download, check_url, shown
from ._reading import CHUNK, Hashing, Paced, Prefixed, Reader, decompressor, verify_digests
from ._snapsource import looks_like_snapshot

if TYPE_CHECKING:
    from ...one import Datastore, Image
    from ...runtime.actioncontext import Context

FILE, URL, SNAPSHOT, DOWNLOADER = "file", "url", "snapshot", "downloader"
MIB = CHUNK
#: Decompressed bytes after which ``enough`` is asked (see Fetcher._unpack).
PREFIX = CHUNK
_ZEROS = bytes(CHUNK)
#: Asked with the descriptor of a partly decompressed file: does it tell what is needed?
Enough = Callable[[int], bool]
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")


def required_path(path: Optional[str]) -> str:
    """The image's PATH; an image without one is refused."""
    if not path or not path.strip():
        raise BadInput("the image has no PATH to import from")
    return path


def classify(path: Optional[str]) -> str:
    """FILE, URL, DOWNLOADER (see ``_downloader``) or SNAPSHOT; anything else is refused with the reason."""
    path = required_path(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise BadInput("image PATH contains control characters")
    if looks_like_snapshot(path):
        return SNAPSHOT
    scheme = _SCHEME.match(path)
    if scheme:
        if scheme.group(1).lower() in ("http", "https"):
            check_url(path)
            return URL
        from ._downloader import passes

        if passes(scheme.group(1)):
            return DOWNLOADER
        raise Unsupported("cannot import from %s:// (local files, http(s), rsync, restic, s3, ssh and rbd URLs, "
                          "SPSNAPSHOT: and VM:<vm>-DISK:<disk>-VMSNAP:<id> are supported)" % scheme.group(1))
    if path.startswith("/"):
        return FILE
    raise BadInput("image PATH %r is not an absolute path, an http(s) URL or a snapshot source" % path[:80])


def compression(head: bytes) -> Optional[str]:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


@dataclass(frozen=True)
class LocalImage:
    """A readable, uncompressed image on the front-end, held open by the Fetcher that made it.

    Readers and qemu-img get this descriptor (qemu-img as its stdin, opening ``/dev/stdin``),
    never a name, so what they read is the file that was checked.
    """

    fd: int
    size: int  # bytes in the file
    digests: Dict[str, str]  # md5/sha1 (as asked) of the source as given
    description: str  # for messages
    compressed: Optional[str] = None

    def reader(self) -> IO[bytes]:
        """A new file object at the start of the file (it shares its offset with ``fd``)."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        return os.fdopen(os.dup(self.fd), "rb")


def verify(image: Image, local: LocalImage) -> None:
    """Compare the image's MD5/SHA1 (when given) with those of the source."""
    verify_digests(image, local.digests, local.description)


class Fetcher:
    """Makes local, uncompressed copies in a private temporary directory, removed on exit.

    What it writes is bounded by ``room``: the free space of the staging directory, and the
    datastore's FREE_MB when oned reports it (the image could not be stored anyway). A
    download or a decompressed file that grows past it is given up with one line. Runs of
    zeros are not written but skipped (the file is sparse), so a small compressed file that
    expands into gigabytes of zeros costs no disk space before the bound applies.
    """

    def __init__(self, ctx: Context, staging_dir: str, decompress: bool = True, digests: Sequence[str] = (),
                 rate_limit: Optional[int] = None, free_mb: Optional[int] = None) -> None:
        self.ctx = ctx
        self.staging_dir = staging_dir
        self.decompress = decompress
        self.digests = list(digests)
        self.rate_limit = rate_limit  # bytes per second a download may take
        self.free_mb = free_mb if free_mb and free_mb > 0 else None
        self.timeout = ctx.config.DOWNLOAD_TIMEOUT
        self.directory = ""
        self.room = 0
        self.room_reason = ""
        self._fds: List[int] = []

    def __enter__(self) -> "Fetcher":
        try:
            self.directory = tempfile.mkdtemp(prefix="onesp-import-", dir=self.staging_dir)
            space = os.statvfs(self.directory)
        except OSError as exc:
            raise ConfigError("cannot make a temporary directory in STAGING_DIR %s: %s"
                              % (self.staging_dir, exc.strerror or exc)) from exc
        self.room = space.f_bavail * space.f_frsize
        self.room_reason = "the free space in STAGING_DIR %s" % self.staging_dir
        if self.free_mb is not None and self.free_mb * MIB < self.room:
            self.room, self.room_reason = self.free_mb * MIB, "the datastore's free space (FREE_MB)"
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _hold(self, fd: int) -> int:
        self._fds.append(fd)
        return fd

    def held(self, path: str) -> int:
        """A read-only descriptor of a file this Fetcher wrote, closed when it exits."""
        return self._hold(os.open(path, os.O_RDONLY | os.O_CLOEXEC))

    # -- sources ----------------------------------------------------------------------------------
    def local(self, path: str, datastore: Datastore, enough: Optional[Enough] = None) -> LocalImage:
        """A front-end file that this datastore may import: used in place unless it is compressed
        or digests are wanted. ``enough`` may end a decompression early (see ``_unpack``)."""
        fd = self._hold(localfile.open_checked(path, datastore))
        size = os.fstat(fd).st_size
        kind = compression(os.pread(fd, 8, 0)) if self.decompress else None
        if kind is None and not self.digests:
            return LocalImage(fd, size, {}, path)
        with os.fdopen(os.dup(fd), "rb") as handle:
            with Progress(self.ctx.log, "read %s" % path, size, lambda: handle.tell()):
                return self._consume(handle, path, kind, fd, enough)

    def download(self, url: str, enough: Optional[Enough] = None) -> LocalImage:
        """An http(s) URL, downloaded here (decompressed as it arrives if needed, see ``take``)."""
        description = shown(url)
        with Download(url, self.timeout, rate_limit=self.rate_limit) as response:
            total = response.length
            if total is not None and total > self.room:
                raise self._too_big("%s is %d bytes" % (description, total))
            local, count = self.take(response, description, total, "download %s" % description, enough)
            if total is not None and count != total:
                raise Transient("download of %s ended after %d of %d bytes" % (description, count, total))
        return local

    def head(self, url: str, limit: int = CHUNK) -> Tuple[int, Optional[int], bool]:
        """The first ``limit`` bytes of a URL in a file: (its descriptor, total size if told, whole file read)."""
        target = os.path.join(self.directory, "head")
        with Download(url, self.timeout, {"Range": "bytes=0-%d" % (limit - 1)}) as response, \
                open(target, "wb") as out:
            total = response.length
            got = 0
            while got < limit:
                data = response.read(min(CHUNK, limit - got))
                if not data:
                    break
                out.write(data)
                got += len(data)
            if response.status == 206:
                whole = (response.response_headers.get("Content-Range") or "").rpartition("/")[2]
                total = int(whole) if whole.isdigit() else None
        complete = total is not None and got >= total
        return self.held(target), total, complete

    # -- passes ----------------------------------------------------------------------------------
    def receive(self, stream: Reader, name: str, description: str, total: Optional[int] = None,
                keep: Optional[int] = None, label: Optional[str] = None) -> Tuple[str, int, Dict[str, str]]:
        """Write what ``stream`` sends into ``name`` in the private directory: (its path, bytes
        written, digests of all that was read).

        Every download goes through here (http(s) above, OpenNebula's downloader in
        ``_downloader``), so each is bounded by ``room`` and paced by LIMIT_TRANSFER_BW alike.
        With ``keep``, only the first ``keep`` bytes are written and the rest is read and
        dropped (OpenNebula's downloader cleans up on the backup host only when its output is
        read to the end). ``label`` logs the progress.
        """
        import contextlib

        target = os.path.join(self.directory, name)
        reader = Hashing(stream, self.digests)
        written = 0
        chunk = CHUNK if not self.rate_limit else max(16384, min(CHUNK, self.rate_limit // 4))
        progress: ContextManager[object] = (Progress(self.ctx.log, label, total, lambda: reader.count) if label
                         else contextlib.nullcontext())
        with open(target, "wb") as out, progress:
            started = time.monotonic()
            try:
                while True:
                    data = reader.read(chunk)
                    if not data:
                        break
                    if keep is not None:
                        data = data[:max(0, keep - written)]
                    if written + len(data) > self.room:
                        raise self._too_big("the download of %s" % description)
                    out.write(data)
                    written += len(data)
                    if self.rate_limit:  # ahead of the allowed rate: wait until it catches up
                        time.sleep(max(0.0, reader.count / self.rate_limit - (time.monotonic() - started)))
            except OSError as exc:
                raise Transient("download of %s failed after %d bytes: %s" % (description, reader.count, exc)) from exc
        return target, written, reader.digests()

    def take(self, stream: Reader, description: str, total: Optional[int] = None, label: Optional[str] = None,
             enough: Optional[Enough] = None) -> Tuple[LocalImage, int]:
        """All ``stream`` sends as an image file, held open, and the bytes read: a compressed stream
        (decompression on) is decompressed as it arrives, so the compressed bytes are never
        stored beside the image; anything else is written as it comes (``receive``). The stream
        is always read to its end (OpenNebula's downloader cleans up only then), also when
        ``enough`` ended the decompression early (see ``_unpack``).
        """
        import contextlib

        first = stream.read(CHUNK)
        whole = Prefixed(first, stream)
        kind = compression(first[:8]) if self.decompress else None
        if kind is None:
            target, count, digests = self.receive(whole, "download", description, total, label=label)
            return LocalImage(self.held(target), count, digests, description), count
        paced = Paced(whole, self.digests, self.rate_limit)
        progress: ContextManager[object] = (Progress(self.ctx.log, label, total, lambda: paced.count) if label
                         else contextlib.nullcontext())
        with progress:
            result = self._unpack(paced, kind, description, enough)
            try:
                paced.hashing.drain()
            except OSError as exc:
                raise Transient("download of %s failed after %d bytes: %s" % (description, paced.count, exc)) from exc
        return LocalImage(result.fd, result.size, paced.hashing.digests(), description, kind), paced.count

    def _consume(self, handle: IO[bytes], description: str, kind: Optional[str], fd: int,
                 enough: Optional[Enough]) -> LocalImage:
        reader = Hashing(handle, self.digests)
        if kind is None:
            reader.drain()
            return LocalImage(fd, reader.count, reader.digests(), description)
        result = self._unpack(reader, kind, description, enough)
        reader.drain()
        return LocalImage(result.fd, result.size, reader.digests(), description, kind)

    def _unpack(self, stream: Reader, kind: str, description: str, enough: Optional[Enough] = None) -> LocalImage:
        """Decompress into a sparse file of at most ``room`` bytes.

        ``enough``, when given, is asked once, with the descriptor of the first ``PREFIX``
        bytes written, whether they already tell what is needed (``ds stat``: the header of
        a qcow2 or VMDK holds its size); True ends the decompression there.
        """
        import lzma

        target = os.path.join(self.directory, "image")
        written = 0
        asked = enough is None
        self.ctx.log.info("decompressing %s (%s)", description, kind)
        try:
            with decompressor(kind, stream) as source, open(target, "wb") as out:
                fd = self.held(target)
                while True:
                    data = source.read(CHUNK)
                    if not data:
                        break
                    written += len(data)
                    if written > self.room:
                        raise self._too_big("%s once decompressed" % description)
                    if data == _ZEROS[:len(data)]:
                        out.seek(len(data), os.SEEK_CUR)
                    else:
                        out.write(data)
                    if not asked and written >= PREFIX:
                        asked = True
                        out.truncate(written)
                        out.flush()
                        if enough is not None and enough(fd):
                            break
                out.truncate(written)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise BadInput("cannot decompress %s (%s): %s" % (description, kind, exc)) from exc
        return LocalImage(fd, written, {}, description, kind)

    def _too_big(self, what: str) -> BadInput:
        return BadInput("%s is more than %d MiB, %s" % (what, self.room // MIB, self.room_reason))

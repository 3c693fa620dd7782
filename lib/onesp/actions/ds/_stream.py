"""An http(s) image taken as it downloads: a raw image goes straight onto the device, any other
into one file.

``ds cp`` opens the download and reads the first MiB of the image (decompressed as it arrives
when the file is gzip, bzip2 or xz and decompression is on), and asks qemu-img what it is.

* raw: nothing is staged on the front-end. The volume is made of the size the server tells
  (Content-Length) or, for a compressed or unsized download, of the image's SIZE, which ds
  stat found and reported to oned; more data than that is refused. The data goes through a
  pipe into ``dd`` on the worker (the front-end itself, or a bridge over its host connection)
  while it arrives; all-zero blocks are skipped (``conv=sparse``: the new volume reads zeros).
  MD5/SHA1 are checked after the last byte; a mismatch, like any failure, removes the volume
  (the staging volume's undo). A raw image that ends in a VHD footer is a fixed VHD: the
  footer, written past the data, is zeroed again.
* any other format: qemu-img needs random access, so the image is written into one file in
  the Fetcher's private directory, decompressed as it arrives (the compressed download is
  never stored beside it), and imported from there.

Both keep LIMIT_TRANSFER_BW and DOWNLOAD_TIMEOUT; the file is bounded by the Fetcher's room.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Dict, Optional, Tuple, Type

from ...runtime.errors import BadInput, Transient
from ...runtime.progress import Progress
from . import _qemu as qemu
from ._download import Download, shown
from ._imports import MIB, PREFIX, Fetcher, LocalImage, compression
from ._reading import CHUNK, Paced, Prefixed, Reader, decompressor
from ._worker import Worker

if TYPE_CHECKING:
    import io

    from ...runtime.actioncontext import Context

_VHD_FOOTER = 512


def _decompression_errors() -> Tuple[Type[Exception], ...]:
    import lzma

    return (OSError, EOFError, lzma.LZMAError)


class UrlImage:
    """An http(s) download, its first MiB read and probed by ``begin``; use as a context manager."""

    def __init__(self, ctx: Context, fetch: Fetcher, url: str) -> None:
        self.ctx = ctx
        self.fetch = fetch
        self.url = url
        self.description = shown(url)
        self.download = Download(url, fetch.timeout, rate_limit=fetch.rate_limit)
        self._paced: Optional[Paced] = None  # the download, counted, hashed and paced (``begin``)
        self.source: Optional[Reader] = None  # what the image is read from: the download, or its decompression
        self.decompressor: Optional[io.BufferedIOBase] = None
        self.compressed: Optional[str] = None
        self.head = b""
        self.info: Optional[qemu.ImageInfo] = None
        self.opened = False

    def __enter__(self) -> "UrlImage":
        return self

    def begin(self) -> None:
        """Open the download and probe its first MiB (closed again by the context's exit)."""
        self.download.__enter__()
        self.opened = True
        self._begin()

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def close(self) -> None:
        if not self.opened:
            return
        self.opened = False
        if self.decompressor is not None:
            try:
                self.decompressor.close()
            except _decompression_errors():
                pass
        self.download.__exit__(None, None, None)

    def _begin(self) -> None:
        self._paced = Paced(self.download, self.fetch.digests, self.fetch.rate_limit)
        first = self._paced.read(CHUNK)
        kind = compression(first[:8]) if self.fetch.decompress else None
        self.compressed = kind
        self.source = Prefixed(first, self._paced)
        if kind is not None:
            self.ctx.log.info("decompressing %s (%s) as it downloads", self.description, kind)
            self.decompressor = decompressor(kind, self.source)
            self.source = self.decompressor
        self.head = self._read(PREFIX)
        self.info = self._probe()

    @property
    def paced(self) -> Paced:
        """The download's reader (made by ``begin``; nothing reads before it)."""
        assert self._paced is not None, "UrlImage.begin() first"
        return self._paced

    def _read(self, size: int) -> bytes:
        parts = []
        got = 0
        while got < size:
            data = self._next(size - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def _next(self, size: int) -> bytes:
        try:
            assert self.source is not None, "UrlImage.begin() first"
            return self.source.read(size)
        except Transient:
            raise
        except _decompression_errors() as exc:
            raise BadInput("cannot decompress %s (%s): %s" % (self.description, self.compressed, exc)) from exc

    def _probe(self) -> Optional[qemu.ImageInfo]:
        if len(self.head) < PREFIX:
            return None  # all of it is here already: staged and probed whole
        path = os.path.join(self.fetch.directory, "head")
        with open(path, "wb") as out:
            out.write(self.head)
        fd = self.fetch.held(path)
        try:
            return qemu.probe(self.ctx.config, fd, self.description)
        except BadInput as exc:  # a format whose metadata lies further in (VHDX)
            self.ctx.log.debug("qemu-img info on the start of %s: %s", self.description, exc)
            return None
        finally:
            os.unlink(path)

    # -- raw: onto the device ---------------------------------------------------------------------
    def raw_size(self, image_size_mb: int) -> Optional[int]:
        """Bytes of the volume a raw image streams onto; None when it is not streamed (staged instead)."""
        if self.info is None or self.info.format != "raw":
            return None
        if self.compressed is None and self.download.length is not None:
            return self.download.length
        return image_size_mb * MIB if image_size_mb > 0 else None

    def write(self, worker: Worker, device: str, capacity: int) -> Dict[str, str]:
        """Stream the whole raw image onto ``device`` on ``worker``; the digests of what was downloaded."""
        feeder = _Feeder(self, capacity)
        label = "download %s onto %s on %s" % (self.description, device, worker.name)
        read, write = os.pipe()
        _widen(write)
        thread = threading.Thread(target=feeder.run, args=(write,), name="onesp-stream", daemon=True)
        with self.ctx.step(label), Progress(self.ctx.log, label, self.download.length, lambda: self.paced.count):
            thread.start()
            try:
                with os.fdopen(read, "rb") as stdin:
                    worker.run_long(["dd", "of=" + device, "bs=1M", "iflag=fullblock", "conv=notrunc,sparse,fsync",
                                     "status=none"], stdin=stdin, what="dd to %s" % device)
            finally:
                feeder.stop.set()
                thread.join()
            if feeder.error is not None:
                raise feeder.error
            total = self.download.length
            if total is not None and self.paced.count != total:
                raise Transient("download of %s ended after %d of %d bytes"
                                % (self.description, self.paced.count, total))
        if feeder.written % _VHD_FOOTER == 0 and feeder.tail[:8] == b"conectix" and feeder.written > _VHD_FOOTER:
            self.ctx.log.info("%s is a fixed VHD: zeroing its footer on %s", self.description, device)
            with self.ctx.step("zero the VHD footer of %s on %s" % (self.description, worker.name)):
                worker.run_long(["dd", "of=" + device, "bs=%d" % _VHD_FOOTER, "count=1",
                                 "seek=%d" % (feeder.written // _VHD_FOOTER - 1), "conv=notrunc,fsync",
                                 "status=none"], stdin=bytes(_VHD_FOOTER), what="dd to %s" % device)
        self.paced.hashing.drain()
        self.ctx.log.info("%s: %d bytes downloaded, %d written onto %s", self.description, self.paced.count,
                          feeder.written, device)
        return self.paced.hashing.digests()

    # -- other formats: one file ------------------------------------------------------------------
    def stage(self) -> LocalImage:
        """The whole image in one (sparse) file of the Fetcher, decompressed as it arrives."""
        target = os.path.join(self.fetch.directory, "image")
        written = 0
        label = "download %s" % self.description
        with self.ctx.step(label), Progress(self.ctx.log, label, self.download.length, lambda: self.paced.count), \
                open(target, "wb") as out:
            data = self.head
            while data:
                written += len(data)
                if written > self.fetch.room:
                    what = "%s once decompressed" % self.description if self.compressed else \
                        "the download of %s" % self.description
                    raise self.fetch._too_big(what)
                if data == bytes(len(data)):
                    out.seek(len(data), os.SEEK_CUR)
                else:
                    out.write(data)
                data = self._next(CHUNK)
            out.truncate(written)
        self.paced.hashing.drain()
        total = self.download.length
        if total is not None and self.paced.count != total:
            raise Transient("download of %s ended after %d of %d bytes" % (self.description, self.paced.count, total))
        return LocalImage(self.fetch.held(target), written, self.paced.hashing.digests(), self.description,
                          self.compressed)


def _widen(fd: int) -> None:
    """A pipe of 1 MiB (Linux' default is 64 KiB): a whole chunk crosses in one write, not sixteen."""
    import fcntl

    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except OSError:  # above /proc/sys/fs/pipe-max-size for this user: the default still works
        pass


class _Feeder:
    """Runs in a thread: writes the image into the pipe to dd, bounded by the volume's size."""

    def __init__(self, source: UrlImage, capacity: int) -> None:
        self.source = source
        self.capacity = capacity
        self.written = 0
        self.tail = b""
        self.error: Optional[BaseException] = None
        self.stop = threading.Event()

    def run(self, fd: int) -> None:
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                data = self.source.head
                while data and not self.stop.is_set():
                    if self.written + len(data) > self.capacity:
                        raise BadInput("%s is more than %d MiB, the size of the image (SIZE, found by ds stat)"
                                       % (self.source.description, self.capacity // MIB))
                    view = memoryview(data)
                    while view:
                        view = view[out.write(view):]
                    self.written += len(data)
                    self.tail = (self.tail + data)[-_VHD_FOOTER:]
                    data = self.source._next(CHUNK)
        except BrokenPipeError:
            pass  # dd ended: its own failure is what is reported
        except Exception as exc:  # handed to the action's thread (signals, Interrupted, reach only that one)
            self.error = exc

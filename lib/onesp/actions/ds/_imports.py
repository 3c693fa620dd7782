"""Where an image to import comes from, and a readable, uncompressed copy of it on the front-end.

IMAGE/PATH is one of

* an absolute path of a file on the front-end, allowed only as OpenNebula allows it: under a
  datastore SAFE_DIRS entry, or else not under RESTRICTED_DIRS (plus oned's own var and etc
  directories and $HOME), judged on the path with every symlink resolved;
* an http(s) URL, downloaded by this process with urllib (never through a shell, no ftp or
  file redirects);
* an rsync://, restic://, s3://, ssh:// or rbd:// URL (restored backups, private marketplaces),
  fetched by OpenNebula's own downloader (see ``_downloader``);
* ``SPSNAPSHOT:<name>`` or ``VM:<vm>-DISK:<disk>-VMSNAP:<id>`` (see ``snapsource``).

gzip, bzip2 and xz files are decompressed, as OpenNebula's downloader does, unless the
datastore sets NO_DECOMPRESS. MD5 and SHA1 are computed over the file as given, in the same
pass that downloads or decompresses it. A download keeps to the datastore's
LIMIT_TRANSFER_BW (bytes per second; K, M and G are 1024-based, as curl reads them for
OpenNebula's downloader).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple, Type
from urllib.parse import urlsplit, urlunsplit

from ...errors import BackendError, BadInput, ConfigError, Forbidden, NotFound, Transient, Unsupported
from ...progress import Progress
from ._snapsource import looks_like_snapshot

FILE, URL, SNAPSHOT, DOWNLOADER = "file", "url", "snapshot", "downloader"
CHUNK = 1024 * 1024
#: Seconds a download may wait for the server (connect or between reads).
DOWNLOAD_TIMEOUT = 60.0
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_RATE = re.compile(r"([0-9]{1,15})([KMG]?)\Z", re.IGNORECASE)


def transfer_limit(datastore: Any) -> Optional[int]:
    """LIMIT_TRANSFER_BW of ``datastore`` in bytes per second; None when it sets none."""
    text = (datastore.limit_transfer_bw or "").strip()
    if not text:
        return None
    match = _RATE.match(text)
    if not match or int(match.group(1)) == 0:
        raise ConfigError("LIMIT_TRANSFER_BW of datastore %d is %r: give bytes per second, optionally with K, M or G"
                          % (datastore.id, text[:40]))
    return int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ")


def classify(path: Optional[str]) -> str:
    """FILE, URL, DOWNLOADER (see ``_downloader``) or SNAPSHOT; anything else is refused with the reason."""
    if not path or not path.strip():
        raise BadInput("the image has no PATH to import from")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise BadInput("image PATH contains control characters")
    if looks_like_snapshot(path):
        return SNAPSHOT
    scheme = _SCHEME.match(path)
    if scheme:
        if scheme.group(1).lower() in ("http", "https"):
            return URL
        from ._downloader import passes

        if passes(scheme.group(1)):
            return DOWNLOADER
        raise Unsupported("cannot import from %s:// (local files, http(s), rsync, restic, s3, ssh and rbd URLs, "
                          "SPSNAPSHOT: and VM:<vm>-DISK:<disk>-VMSNAP:<id> are supported)" % scheme.group(1))
    if path.startswith("/"):
        return FILE
    raise BadInput("image PATH %r is not an absolute path, an http(s) URL or a snapshot source" % path[:80])


def shown(url: str) -> str:
    """A URL for messages and logs: no user:password, no query (it may carry a signature)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += ":%d" % parts.port
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def checked_file(path: str, datastore: Any) -> str:
    """The resolved path of a local source file that this datastore may import."""
    real = os.path.realpath(path)
    if not os.path.exists(real):
        raise NotFound("image file %s does not exist" % path)
    if not os.path.isfile(real):
        raise BadInput("image file %s is not a regular file" % path)
    blocked = restricted_by(real, datastore)
    if blocked:
        raise Forbidden("copying image file %s: %s is under restricted %s and under no SAFE_DIRS entry"
                       % (path, real, blocked))
    if not os.access(real, os.R_OK):
        raise BadInput("cannot read image file %s: permission denied" % path)
    return real


def restricted_by(real: str, datastore: Any) -> Optional[str]:
    """The RESTRICTED_DIRS entry that forbids ``real`` (None: allowed), as OpenNebula's check_restricted.

    SAFE_DIRS win and must contain the file as a path prefix (``/var/tmp`` allows
    ``/var/tmp/x``, not ``/var/tmpx``); restricted entries match as plain prefixes, as upstream.
    """
    for safe in datastore.safe_dirs or ("/var/tmp",):
        base = os.path.realpath(safe)
        if real == base or real.startswith(base.rstrip("/") + "/"):
            return None
    location = os.environ.get("ONE_LOCATION")
    var, etc = (location + "/var/", location + "/etc/") if location else ("/var/lib/one/", "/etc/one/")
    home = os.environ.get("HOME")
    candidates = [var, etc] + ([home.rstrip("/") + "/"] if home else []) + list(datastore.restricted_dirs)
    for restricted in candidates:
        if real.startswith(restricted) or real.startswith(os.path.realpath(restricted)):
            return restricted
    return None


def compression(head: bytes) -> Optional[str]:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


@dataclass(frozen=True)
class LocalImage:
    """A readable, uncompressed image on the front-end."""

    path: str
    size: int  # bytes at ``path``
    digests: Dict[str, str]  # md5/sha1 (as asked) of the source as given
    description: str  # for messages
    compressed: Optional[str] = None


class _Hashing:
    """A reader that feeds everything read through it into the wanted digests."""

    def __init__(self, stream: IO[bytes], algorithms: Sequence[str]) -> None:
        import hashlib

        self.stream = stream
        self.hashers = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        for hasher in self.hashers.values():
            hasher.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def digests(self) -> Dict[str, str]:
        return {name: hasher.hexdigest() for name, hasher in self.hashers.items()}


def verify(image: Any, local: LocalImage) -> None:
    """Compare the image's MD5/SHA1 (when given) with those of the source."""
    for name, expected in (("md5", image.md5), ("sha1", image.sha1)):
        if not expected:
            continue
        actual = local.digests.get(name, "")
        if actual.lower() != expected.strip().lower():
            raise BadInput("%s of %s is %s, but the image says %s" % (name.upper(), local.description, actual,
                                                                      expected.strip()))


def wanted_digests(image: Any) -> List[str]:
    return [name for name, value in (("md5", image.md5), ("sha1", image.sha1)) if value]


class Fetcher:
    """Makes local, uncompressed copies in a private temporary directory, removed on exit."""

    def __init__(self, ctx: Any, staging_dir: str, decompress: bool = True, digests: Sequence[str] = (),
                 rate_limit: Optional[int] = None) -> None:
        self.ctx = ctx
        self.staging_dir = staging_dir
        self.decompress = decompress
        self.digests = list(digests)
        self.rate_limit = rate_limit  # bytes per second a download may take
        self.directory = ""

    def __enter__(self) -> "Fetcher":
        try:
            self.directory = tempfile.mkdtemp(prefix="onesp-import-", dir=self.staging_dir)
        except OSError as exc:
            raise ConfigError("cannot make a temporary directory in STAGING_DIR %s: %s"
                              % (self.staging_dir, exc.strerror or exc)) from None
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- sources ----------------------------------------------------------------------------------
    def local(self, real_path: str, description: str) -> LocalImage:
        """A front-end file: used in place unless it is compressed or digests are wanted."""
        with open(real_path, "rb") as handle:
            kind = compression(handle.read(8)) if self.decompress else None
            size = os.fstat(handle.fileno()).st_size
            if kind is None and not self.digests:
                return LocalImage(real_path, size, {}, description)
            handle.seek(0)
            with Progress(self.ctx.log, "read %s" % description, size, lambda: handle.tell()):
                return self._consume(handle, description, kind, keep=real_path)

    def download(self, url: str) -> LocalImage:
        """An http(s) URL, downloaded here (then decompressed if needed)."""
        description = shown(url)
        response, total = open_url(url)
        target = os.path.join(self.directory, "download")
        with response, open(target, "wb") as out:
            reader = _Hashing(response, self.digests)
            with Progress(self.ctx.log, "download %s" % description, total, lambda: reader.count):
                chunk = CHUNK if not self.rate_limit else max(16384, min(CHUNK, self.rate_limit // 4))
                started = time.monotonic()
                try:
                    while True:
                        data = reader.read(chunk)
                        if not data:
                            break
                        out.write(data)
                        if self.rate_limit:  # ahead of the allowed rate: wait until it catches up
                            time.sleep(max(0.0, reader.count / self.rate_limit - (time.monotonic() - started)))
                except OSError as exc:
                    raise Transient("download of %s failed after %d bytes: %s" % (description, reader.count, exc)) from None
            if total is not None and reader.count != total:
                raise Transient("download of %s ended after %d of %d bytes" % (description, reader.count, total))
        digests = reader.digests()
        with open(target, "rb") as handle:
            kind = compression(handle.read(8)) if self.decompress else None
            if kind is None:
                return LocalImage(target, reader.count, digests, description)
            handle.seek(0)
            result = self._unpack(handle, kind, description)
        os.unlink(target)
        return LocalImage(result.path, result.size, digests, description, kind)

    def head(self, url: str, limit: int = CHUNK) -> Tuple[str, Optional[int], bool]:
        """The first ``limit`` bytes of a URL in a file: (path, total size if told, whole file read)."""
        response, total = open_url(url, {"Range": "bytes=0-%d" % (limit - 1)})
        target = os.path.join(self.directory, "head")
        with response, open(target, "wb") as out:
            data = response.read(limit)
            out.write(data)
            ranged = response.status == 206
            if ranged:
                whole = (response.headers.get("Content-Range") or "").rpartition("/")[2]
                total = int(whole) if whole.isdigit() else None
        complete = total is not None and len(data) >= total
        return target, total, complete

    # -- passes ----------------------------------------------------------------------------------
    def _consume(self, handle: IO[bytes], description: str, kind: Optional[str], keep: str) -> LocalImage:
        reader = _Hashing(handle, self.digests)
        if kind is None:
            reader.drain()
            return LocalImage(keep, reader.count, reader.digests(), description)
        result = self._unpack(reader, kind, description)
        reader.drain()
        return LocalImage(result.path, result.size, reader.digests(), description, kind)

    def _unpack(self, stream: Any, kind: str, description: str) -> LocalImage:
        import bz2
        import gzip
        import lzma

        opener = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}[kind]
        target = os.path.join(self.directory, "image")
        written = 0
        self.ctx.log.info("decompressing %s (%s)", description, kind)
        try:
            with opener(fileobj=stream) if kind == "gzip" else opener(stream) as source, open(target, "wb") as out:
                while True:
                    data = source.read(CHUNK)
                    if not data:
                        break
                    out.write(data)
                    written += len(data)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise BadInput("cannot decompress %s (%s): %s" % (description, kind, exc)) from None
        return LocalImage(target, written, {}, description, kind)


def open_url(url: str, headers: Optional[Dict[str, str]] = None) -> Tuple[Any, Optional[int]]:
    """An open http(s) response and its Content-Length; errors become one clear onesp error."""
    import http.client
    import urllib.error
    import urllib.request

    description = shown(url)
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPRedirectHandler(), urllib.request.HTTPErrorProcessor(),
                    urllib.request.HTTPDefaultErrorHandler()):
        opener.add_handler(handler)
    request = urllib.request.Request(url, headers=dict({"User-Agent": "onesp", "Accept-Encoding": "identity"},
                                                       **(headers or {})))
    try:
        response = opener.open(request, timeout=DOWNLOAD_TIMEOUT)
    except urllib.error.HTTPError as exc:
        exc.close()
        message = "cannot download %s: HTTP %d %s" % (description, exc.code, exc.reason)
        if exc.code in (404, 410):
            raise NotFound(message) from None
        if exc.code >= 500:
            raise Transient(message) from None
        raise BackendError(message) from None
    except urllib.error.URLError as exc:
        raise Transient("cannot download %s: %s" % (description, exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise Transient("cannot download %s: %s" % (description, exc)) from None
    except ValueError as exc:
        raise BadInput("invalid URL %s: %s" % (description, exc)) from None
    length = response.headers.get("Content-Length")
    return response, (int(length) if length and length.isdigit() else None)

"""Readers of incoming image bytes, and the checks of what they computed.

Every source of an import (a front-end file, an http(s) download, OpenNebula's downloader) is
read through these: ``Hashing`` feeds the MD5/SHA1 the image asks for (``wanted_digests``)
in the same pass, ``Paced`` keeps a download to the datastore's LIMIT_TRANSFER_BW
(``transfer_limit``), ``Prefixed`` puts back what was read ahead to inspect the start,
``decompressor`` reads a compressed one as it arrives.
"""

from __future__ import annotations

import re
import time
from typing import IO, TYPE_CHECKING, Dict, List, Optional, Protocol, Sequence, cast

from ...runtime.errors import BadInput, ConfigError

if TYPE_CHECKING:
    import io

    from ...one import Datastore, Image

CHUNK = 1024 * 1024


class Reader(Protocol):
    """What the readers below read from, and are: a file, a download, a decompressor."""

    def read(self, __size: int) -> bytes: ...
_RATE = re.compile(r"([0-9]{1,15})([KMG]?)\Z", re.IGNORECASE)


def transfer_limit(datastore: Datastore) -> Optional[int]:
    """LIMIT_TRANSFER_BW of ``datastore`` in bytes per second; None when it sets none."""
    text = (datastore.limit_transfer_bw or "").strip()
    if not text:
        return None
    match = _RATE.match(text)
    if not match or int(match.group(1)) == 0:
        raise ConfigError("LIMIT_TRANSFER_BW of datastore %d is %r: give bytes per second, optionally with K, M or G"
                          % (datastore.id, text[:40]))
    return int(match.group(1)) << 10 * " KMG".index(match.group(2).upper() or " ")


class Hashing:
    """A reader that feeds everything read through it into the wanted digests."""

    def __init__(self, stream: Reader, algorithms: Sequence[str]) -> None:
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


class Paced:
    """Reads of the download, hashed, counted and kept to LIMIT_TRANSFER_BW (bytes per second)."""

    def __init__(self, response: Reader, digests: Sequence[str], rate_limit: Optional[int]) -> None:
        self.hashing = Hashing(response, digests)
        self.rate_limit = rate_limit
        self.started = time.monotonic()

    def read(self, size: int = -1) -> bytes:
        if self.rate_limit:
            size = max(16384, min(size if size > 0 else CHUNK, self.rate_limit // 4))
        data = self.hashing.read(size if size > 0 else CHUNK)
        if self.rate_limit:  # ahead of the allowed rate: wait until it catches up
            time.sleep(max(0.0, self.hashing.count / self.rate_limit - (time.monotonic() - self.started)))
        return data

    @property
    def count(self) -> int:
        return self.hashing.count


class Prefixed:
    """A reader that returns ``first`` before the rest of ``stream``."""

    def __init__(self, first: bytes, stream: Reader) -> None:
        self.first = first
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        if self.first:
            size = len(self.first) if size is None or size < 0 else size
            data, self.first = self.first[:size], self.first[size:]
            return data
        return self.stream.read(size if size is not None and size > 0 else CHUNK)


def verify_digests(image: Image, digests: Dict[str, str], description: str) -> None:
    for name, expected in (("md5", image.md5), ("sha1", image.sha1)):
        if not expected:
            continue
        actual = digests.get(name, "")
        if actual.lower() != expected.strip().lower():
            raise BadInput("%s of %s is %s, but the image says %s" % (name.upper(), description, actual,
                                                                      expected.strip()))


def wanted_digests(image: Image) -> List[str]:
    return [name for name, value in (("md5", image.md5), ("sha1", image.sha1)) if value]


def decompressor(kind: str, stream: Reader) -> io.BufferedIOBase:
    """A reader of ``stream`` decompressed (``kind``: gzip, bzip2 or xz, see ``_imports.compression``)."""
    import bz2
    import gzip
    import lzma

    # The stubs ask for a seekable file; a decompressor reading forward only calls read.
    readable = cast(IO[bytes], stream)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=readable)
    if kind == "bzip2":
        return bz2.BZ2File(readable)
    return lzma.LZMAFile(readable)

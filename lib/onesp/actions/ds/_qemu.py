"""What an image file is, asked of ``qemu-img info --output=json`` (the extension is never trusted).

qemu-img gets the checked file's descriptor as its stdin and opens ``/dev/stdin``, never a
path a user named. Only self-contained images of the formats below are accepted: a qcow2
with a backing file or an external data file, or a VMDK whose extents are other files, would
make the import read files the user named indirectly, so they are refused. ``qemu-img info`` runs under a CPU and
memory limit because the file is untrusted input; conversions later name the detected format
explicitly (``-f``), so no second guess can differ from this one. ``qemu-img check`` refuses
images whose metadata is damaged (a qcow2 cut short would otherwise convert into zeros).

VHD (qemu's ``vpc``) and VDI need random access (a dynamic VHD keeps its block table after a
header, a fixed one only a footer at the end), which the descriptor gives: it is a regular
file (checked, downloaded or decompressed), never a pipe. qemu-img recognises a fixed VHD
only when told, so a file it calls raw that ends in a VHD footer is taken as ``vpc``.
``qemu-img check`` has no check for VHD and misses a VDI cut short, so for these two the
data extents ``qemu-img map`` reports must lie inside the file.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List

from ...runtime.errors import BadInput, ConfigError, HostError, Unsupported

if TYPE_CHECKING:
    from ...runtime.config import Config

SUPPORTED_FORMATS = ("raw", "qcow2", "vmdk", "vhdx", "vpc", "vdi")
MIB = 1024 * 1024
_INFO_CPU_SECONDS = 30
_CHECK_CPU_SECONDS = 600  # reads all metadata of a possibly big image
_INFO_MEMORY = 1024 * MIB
_CHECKED_FORMATS = ("qcow2", "vmdk", "vhdx", "vdi")
#: Formats whose data extents (``qemu-img map``) are compared with the file's size.
_MAPPED_FORMATS = ("vpc", "vdi")
#: A VHD footer starts with this cookie; a fixed VHD has only the footer, in its last 512 bytes.
_VHD_COOKIE = b"conectix"
#: What qemu-img is told to open: the image's descriptor is the command's stdin.
SOURCE = "/dev/stdin"


@dataclass(frozen=True)
class ImageInfo:
    format: str
    virtual_size: int  # bytes

    @property
    def size_mb(self) -> int:
        """The virtual size rounded up to whole MiB: the size of the volume that holds it."""
        return -(-self.virtual_size // MIB)


def qemu_img(cfg: Config) -> List[str]:
    argv = shlex.split(cfg.QEMU_IMG)
    if not argv:
        raise ConfigError("QEMU_IMG is empty")
    return argv


def _run(argv: List[str], fd: int, what: str, description: str,
         cpu_seconds: int) -> "subprocess.CompletedProcess[bytes]":
    """Run qemu-img on the open file ``fd``: it is the command's stdin, which qemu-img opens as
    ``/dev/stdin``, so qemu-img reads the file that was checked, not whatever a name points
    at by then."""
    def limits() -> None:  # runs in the child before exec
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (_INFO_MEMORY, _INFO_MEMORY))

    os.lseek(fd, 0, os.SEEK_SET)
    try:
        return subprocess.run(argv, stdin=fd, capture_output=True, timeout=2 * cpu_seconds, check=False,
                              preexec_fn=limits)
    except subprocess.TimeoutExpired as exc:
        raise BadInput("qemu-img %s on %s took too long" % (what, description)) from exc
    except OSError as exc:
        raise HostError("front-end", "qemu-img %s" % what, exc.strerror or str(exc)) from exc


def _first_line(data: bytes) -> str:
    return next((line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()), "")[:200]


def probe(cfg: Config, fd: int, description: str) -> ImageInfo:
    """Format and virtual size of the open local file ``fd`` (``description`` names it in messages)."""
    proc = _run(qemu_img(cfg) + ["info", "--output=json", SOURCE], fd, "info", description, _INFO_CPU_SECONDS)
    if proc.returncode != 0:
        raise BadInput("qemu-img cannot read %s: %s" % (description, _first_line(proc.stderr)
                                                         or "exit status %d" % proc.returncode))
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
        fmt = str(data["format"])
        size = int(data["virtual-size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput("qemu-img info gave no format and size for %s" % description) from exc
    if fmt == "raw" and _fixed_vhd(fd):
        return probe_as(cfg, fd, "vpc", description)
    return checked(data, fmt, size, description)


def _fixed_vhd(fd: int) -> bool:
    end = os.fstat(fd).st_size
    return end >= 1024 and os.pread(fd, len(_VHD_COOKIE), end - 512) == _VHD_COOKIE


def probe_as(cfg: Config, fd: int, fmt: str, description: str) -> ImageInfo:
    """``probe`` with the format named: a fixed VHD, which qemu-img does not recognise by itself."""
    proc = _run(qemu_img(cfg) + ["info", "-f", fmt, "--output=json", SOURCE], fd, "info", description,
                _INFO_CPU_SECONDS)
    if proc.returncode != 0:
        raise BadInput("qemu-img cannot read %s as %s: %s" % (description, fmt, _first_line(proc.stderr)
                                                              or "exit status %d" % proc.returncode))
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
        size = int(data["virtual-size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput("qemu-img info gave no size for %s" % description) from exc
    return checked(data, fmt, size, description)


def intact(cfg: Config, fd: int, info: ImageInfo, description: str) -> None:
    """Refuse a damaged image: ``qemu-img check`` of the formats that keep metadata.

    A qcow2 or VMDK cut short converts "successfully" into zeros where the data was, so the
    metadata is checked before anything is written. Leaked clusters (exit status 3) waste
    space but lose no data and pass. VHD and VDI are also measured against the file (``_within``).
    """
    if info.format in _MAPPED_FORMATS:
        _within(cfg, fd, info, description)
    if info.format not in _CHECKED_FORMATS:
        return
    proc = _run(qemu_img(cfg) + ["check", "-f", info.format, "--output=json", SOURCE], fd, "check", description,
                _CHECK_CPU_SECONDS)
    if proc.returncode in (0, 3):
        return
    try:
        found = json.loads(proc.stdout.decode("utf-8", "replace"))
        corruptions = int(found.get("corruptions") or 0)
    except (ValueError, TypeError, AttributeError):
        corruptions = 0
    if corruptions:
        raise BadInput("%s is damaged (qemu-img check found %d corruptions); it is not imported"
                       % (description, corruptions))
    raise BadInput("%s is damaged: qemu-img check failed: %s" % (description, _first_line(proc.stderr)
                                                                 or "exit status %d" % proc.returncode))


def _within(cfg: Config, fd: int, info: ImageInfo, description: str) -> None:
    """Refuse an image whose data, by its own block table, lies past the end of the file (cut short)."""
    proc = _run(qemu_img(cfg) + ["map", "-f", info.format, "--output=json", SOURCE], fd, "map", description,
                _CHECK_CPU_SECONDS)
    if proc.returncode != 0:
        raise BadInput("%s is damaged: qemu-img map failed: %s" % (description, _first_line(proc.stderr)
                                                                   or "exit status %d" % proc.returncode))
    try:
        extents = json.loads(proc.stdout.decode("utf-8", "replace"))
        ends = [int(e["offset"]) + int(e["length"]) for e in extents if e.get("data") and "offset" in e]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInput("qemu-img map gave no extents for %s" % description) from exc
    size = os.fstat(fd).st_size
    if ends and max(ends) > size:
        raise BadInput("%s is damaged: its data reaches byte %d of a %d-byte file (cut short?); it is not imported"
                       % (description, max(ends), size))


def checked(data: Any, fmt: str, size: int, description: str) -> ImageInfo:  # data: qemu-img info JSON
    if fmt not in SUPPORTED_FORMATS:
        raise Unsupported("%s is a %s image; supported formats are %s" % (description, fmt, ", ".join(SUPPORTED_FORMATS)))
    if data.get("backing-filename") or data.get("full-backing-filename"):
        raise BadInput("%s has a backing file; only self-contained images can be imported" % description)
    specific = (data.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file"):
        raise BadInput("%s keeps its data in another file; only self-contained images can be imported" % description)
    for extent in specific.get("extents") or ():
        if extent.get("filename") != data.get("filename"):
            raise BadInput("%s is a VMDK with its data in other files; only single-file VMDKs can be imported"
                           % description)
    if size <= 0:
        raise BadInput("%s has a virtual size of %d bytes" % (description, size))
    return ImageInfo(fmt, size)


def convert_argv(cfg: Config, fmt: str, source: str, device: str) -> List[str]:
    """Write ``source`` (``SOURCE`` when the image is the command's stdin) as raw onto an existing
    device (``-n``: never create or truncate it).

    The source is named with its options (``json:``) so that it opens no backing file even if
    its header named one by the time of the conversion: ``probe`` refused such images, this
    keeps it so should the file change after that.
    """
    if fmt not in SUPPORTED_FORMATS:
        raise Unsupported("cannot convert a %s image" % fmt)
    options = {"driver": fmt, "backing": None, "file": {"driver": "file", "filename": source}}
    return qemu_img(cfg) + ["convert", "-n", "-f", fmt, "-O", "raw", "json:" + json.dumps(options), device]


def export_argv(cfg: Config, fmt: str, device: str, target: str) -> List[str]:
    """Write a raw device into a new file of format ``fmt`` (marketplace export)."""
    if fmt not in ("raw", "qcow2"):
        raise Unsupported("cannot export as %s" % fmt)
    try:
        extra = shlex.split(cfg.EXPORT_QEMU_IMG_ARGS)
    except ValueError as exc:
        raise ConfigError("EXPORT_QEMU_IMG_ARGS: %s" % exc) from exc
    # Options only, split like a shell but never given to one: each stays one argv element.
    return qemu_img(cfg) + ["convert"] + extra + ["-f", "raw", "-O", fmt, device, target]

"""What an image file is, asked of ``qemu-img info --output=json`` (the extension is never trusted).

Only self-contained images of the formats below are accepted: a qcow2 with a backing file or
an external data file, or a VMDK whose extents are other files, would make the import read
files the user named indirectly, so they are refused. ``qemu-img info`` runs under a CPU and
memory limit because the file is untrusted input; conversions later name the detected format
explicitly (``-f``), so no second guess can differ from this one.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any, List

from ...errors import BadInput, ConfigError, HostError, Unsupported

SUPPORTED_FORMATS = ("raw", "qcow2", "vmdk", "vhdx")
MIB = 1024 * 1024
_INFO_CPU_SECONDS = 30
_INFO_MEMORY = 1024 * MIB


@dataclass(frozen=True)
class ImageInfo:
    format: str
    virtual_size: int  # bytes

    @property
    def size_mb(self) -> int:
        """The virtual size rounded up to whole MiB: the size of the volume that holds it."""
        return -(-self.virtual_size // MIB)


def qemu_img(cfg: Any) -> List[str]:
    argv = shlex.split(str(cfg.QEMU_IMG))
    if not argv:
        raise ConfigError("QEMU_IMG is empty")
    return argv


def _limits() -> None:  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (_INFO_CPU_SECONDS, _INFO_CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (_INFO_MEMORY, _INFO_MEMORY))


def probe(cfg: Any, path: str, description: str) -> ImageInfo:
    """Format and virtual size of the local file ``path`` (``description`` names it in messages)."""
    argv = qemu_img(cfg) + ["info", "--output=json", path]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=2 * _INFO_CPU_SECONDS, check=False,
                              preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        raise BadInput("qemu-img info on %s took too long" % description) from None
    except OSError as exc:
        raise HostError("front-end", "qemu-img info", exc.strerror or str(exc)) from None
    if proc.returncode != 0:
        first = next((line.strip() for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()), "")
        raise BadInput("qemu-img cannot read %s: %s" % (description, first[:200] or "exit status %d" % proc.returncode))
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
        fmt = str(data["format"])
        size = int(data["virtual-size"])
    except (ValueError, KeyError, TypeError):
        raise BadInput("qemu-img info gave no format and size for %s" % description) from None
    return checked(data, fmt, size, description)


def checked(data: Any, fmt: str, size: int, description: str) -> ImageInfo:
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


def convert_argv(cfg: Any, fmt: str, source: str, device: str) -> List[str]:
    """Write ``source`` as raw onto an existing device (``-n``: never create or truncate it)."""
    if fmt not in SUPPORTED_FORMATS:
        raise Unsupported("cannot convert a %s image" % fmt)
    return qemu_img(cfg) + ["convert", "-n", "-f", fmt, "-O", "raw", source, device]


def export_argv(cfg: Any, fmt: str, device: str, target: str) -> List[str]:
    """Write a raw device into a new file of format ``fmt`` (marketplace export)."""
    if fmt not in ("raw", "qcow2"):
        raise Unsupported("cannot export as %s" % fmt)
    try:
        extra = shlex.split(str(cfg.EXPORT_QEMU_IMG_ARGS or ""))
    except ValueError as exc:
        raise ConfigError("EXPORT_QEMU_IMG_ARGS: %s" % exc) from None
    # Options only, split like a shell but never given to one: each stays one argv element.
    return qemu_img(cfg) + ["convert"] + extra + ["-f", "raw", "-O", fmt, device, target]

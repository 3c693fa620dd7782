"""The UEFI NVRAM of a VM: a regular file in the VM directory, kept on its StorPool volume.

For a VM with ``OS/FIRMWARE``, oned writes ``<nvram><vm dir>/<vm name>_VARS.fd</nvram>``
into the domain (LibVirtDriverKVM.cc, 6.10 to 7.4): libvirt's source type ``file``, which
modern libvirt hands to QEMU as ``{"driver": "file"}``, and QEMU (6.0 and later) refuses a
block device behind that driver. A link from that path to the volume's device therefore
stops the VM from starting; only ``<nvram type='block'>`` could open the device, and that
needs a deploy tweak. So the path holds a regular file, and the volume
``<px>-sys-<vm>-NVRAM`` holds the NVRAM whenever the VM's state is not on a host:

* ``restore`` (volume -> file) where the VM is about to start: tm context at deploy and at
  a re-deploy after a host failure, tm mv on the destination of a resume or cold migration
  (the volume is authoritative: whatever was at the path is replaced), tm premigrate on the
  destination of a live migration (only when no regular file arrived there: QEMU rewrites
  the destination's flash from the migrated state anyway, the file only has to exist; and
  only when the source had something at the path, see ``Saved.path_in_use``).
* ``save`` (file -> volume) where the VM's state leaves a host: tm mv on the source of a
  stop, undeploy or cold migration, and tm premigrate on the source of a live migration
  (taken while the VM runs).

Between those points the guest's NVRAM changes live only in the file on the host; a host
that dies loses them, and the VM restarts from the volume's copy. Deliberately no save
where the state stays on its host (power off, suspend, reboot: the file is the NVRAM
there), and none before tm delete (a terminated VM's NVRAM volume is deleted with it).

Sizes: the volume's size *is* the NVRAM's size, so a restore copies the whole volume and
needs no other record. tm context creates the volume with exactly the template's size (a
template that is not a whole number of 512-byte sectors, StorPool's unit, is refused; every
OVMF/AAVMF variables file is one). A save whose file has another size (a VM that booted
from the host's own firmware variables before onesp managed them) first resizes the volume
to the file, so the invariant holds for every volume, also those the addon made.

Host side: argv only, every value a positional parameter of a fixed script. A save reads
the file with ``O_NOFOLLOW`` (``dd iflag=nofollow``) after checking, without following, that
it is a regular file of the expected size, and writes at most that many bytes into a device
that must already exist (``conv=nocreat``). A path that is a symlink (left by onesp
releases that linked it to the device) or is missing holds nothing to save. A restore
writes a new file with an unguessable name in the VM directory (created exclusively, never
through an existing name), checks its size, then renames it over the path: a symlink or
file there is replaced, never written through, and a reader never sees half a file.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional

from ...runtime import volumes
from ...runtime.actioncontext import Context
from ...runtime.errors import BadInput, HostError
from ...runtime.naming import unique_token
from . import _common as common

if TYPE_CHECKING:
    from ...one import Vm
    from ...runtime.hostexec import Host

SECTOR = 512
#: A NVRAM is small (128 KiB to 64 MiB); a copy that takes longer than this is stuck.
COPY_TIMEOUT = 600

_SAVE = (
    'f=$1; d=$2; n=$3\n'
    'if [ -L "$f" ]; then echo link; exit 0; fi\n'
    'if [ ! -e "$f" ]; then echo absent; exit 0; fi\n'
    'if [ ! -f "$f" ]; then echo "$f is not a regular file" >&2; exit 1; fi\n'
    's=$(stat -c %s -- "$f") || exit 1\n'
    'if [ "$s" != "$n" ]; then echo "size $s"; exit 0; fi\n'
    'if [ ! -e "$d" ]; then echo "$d is not there: the NVRAM volume is not attached to this host" >&2; exit 1; fi\n'
    'dd if="$f" of="$d" iflag=nofollow,count_bytes count="$n" bs=64K conv=notrunc,nocreat,fdatasync status=none'
    ' || exit 1\n'
    'echo saved\n'
)
_WRITE_TEMPORARY = (
    'd=$1; t=$2; n=$3\n'
    'umask 077; set -C\n'
    'dd if="$d" iflag=count_bytes count="$n" bs=64K conv=fsync status=none > "$t" || exit 1\n'
    's=$(stat -c %s -- "$t") || exit 1\n'
    'if [ "$s" != "$n" ]; then echo "read $s of $n bytes from $d" >&2; exit 1; fi\n'
)
_LOOK = 'if [ -L "$1" ]; then echo link; elif [ -f "$1" ]; then echo file; elif [ -e "$1" ]; then echo other; fi'
#: Undo of a restore whose write was answered: the temporary is still there (the rename did
#: not happen: remove it) or it is gone (renamed into place by this run: remove the file).
_TAKE_BACK = 'if [ -e "$1" ] || [ -L "$1" ]; then rm -f -- "$1"; else rm -f -- "$2"; fi'


def path(vm: Vm, vm_dir: str) -> str:
    """``<vm dir>/<vm name>_VARS.fd``, the ``<nvram>`` oned writes."""
    return posixpath.join(vm_dir, common.nvram_file(vm))


def check_size(size: int, what: str) -> None:
    """A NVRAM the volume can hold byte for byte: a positive whole number of sectors."""
    if size <= 0 or size % SECTOR:
        raise BadInput("%s is %d bytes, not a whole number of %d-byte sectors" % (what, size, SECTOR))


def volume_size(ctx: Context, name: str) -> Optional[int]:
    """The NVRAM volume's size (the NVRAM's size), or None when the VM has no such volume."""
    with ctx.step("look for UEFI NVRAM %s" % name):
        found = ctx.sp.volume_or_none(name)
    return None if found is None else int(found["size"])


@dataclass(frozen=True)
class Saved:
    """What a save found at the NVRAM path, and the volume's size after it."""

    found: str  # "file" (saved), "link" (not read through) or "absent"
    size: int

    @property
    def path_in_use(self) -> bool:
        """The VM's domain opens the NVRAM path. With nothing there it uses no such path: the
        addon's deploy tweak pointed its ``<nvram type='block'>`` at the device itself."""
        return self.found != "absent"


def save(ctx: Context, host: str, vm: Vm, vm_dir: str, name: str, size: int) -> Saved:
    """Copy the NVRAM file on ``host`` into volume ``name`` (of ``size`` bytes), attached
    there. A missing file, or a symlink (nothing is read through it), is nothing to save.

    Deliberately without undo, the resize included: the volume then holds what the file
    holds, which every later step expects (putting back the old size alone would cut the
    saved NVRAM); a failed action leaves the file where it was, and its re-run saves it again.
    """
    node = ctx.host(host)
    source = path(vm, vm_dir)
    device = ctx.device_path(name)
    with ctx.step("save the NVRAM of VM %s from %s on %s to %s" % (vm.id, source, host, name)):
        answer = _run_save(node, source, device, size)
        if answer.startswith("size ") and answer[5:].isdigit():
            found = int(answer[5:])
            check_size(found, "NVRAM file %s on %s" % (source, host))
            _resize(ctx, name, found)
            size = found
            answer = _run_save(node, source, device, size)
    if answer in ("link", "absent"):
        ctx.log.info("%s on %s is %s: nothing to save into %s", source, host,
                     "a symlink" if answer == "link" else "missing", name)
        return Saved(answer, size)
    if answer != "saved":
        raise HostError(host, "save %s" % source, "unexpected answer %r" % answer[:100])
    return Saved("file", size)


def _run_save(node: Host, source: str, device: str, size: int) -> str:
    return node.run(["sh", "-c", _SAVE, "sh", source, device, str(size)], timeout=COPY_TIMEOUT,
                    what="save %s" % source).strip()


def _resize(ctx: Context, name: str, wanted: int) -> None:
    """Make the volume the file's size (part of a save, see there)."""
    with ctx.step("resize %s to the NVRAM file's %d bytes" % (name, wanted)):
        volumes.resize(ctx, name, wanted, shrink_ok=True, no_undo="part of an NVRAM save, which has none (see save)")


def restore(ctx: Context, host: str, vm: Vm, vm_dir: str, name: str, size: int, *, keep_file: bool = False) -> bool:
    """Make the NVRAM path on ``host`` a regular file holding volume ``name`` (attached there).

    With ``keep_file`` a regular file already at the path is left as it is (False). Undo
    removes the file this run made — the undo is in place before the first command, and it
    tells from the temporary name whether the rename happened.
    """
    node = ctx.host(host)
    target = path(vm, vm_dir)
    if keep_file:
        with ctx.step("look at %s on %s" % (target, host)):
            found = node.run(["sh", "-c", _LOOK, "sh", target], what="look at %s" % target).strip()
        if found == "file":
            ctx.log.info("%s on %s is there: the NVRAM file is kept", target, host)
            return False
    temporary = posixpath.join(vm_dir, ".onesp-nvram-%s" % unique_token(8))
    device = ctx.device_path(name)
    written: List[bool] = []

    def take_back() -> None:
        if written:
            node.run(["sh", "-c", _TAKE_BACK, "sh", temporary, target], what="remove %s" % target)
        else:
            node.run(["rm", "-f", "--", temporary], what="remove %s" % temporary)

    ctx.undo(take_back, label="remove the NVRAM file %s on %s" % (target, host))
    with ctx.step("write the NVRAM of VM %s from %s to %s on %s" % (vm.id, name, target, host)):
        node.run(["sh", "-c", _WRITE_TEMPORARY, "sh", device, temporary, str(size)], timeout=COPY_TIMEOUT,
                 what="read %s" % name)
        written.append(True)
        node.run(["mv", "-Tf", "--", temporary, target], what="rename to %s" % target)
    return True

"""The UEFI NVRAM in VM snapshots: taken with the disks, put back by a revert.

While a VM runs, its NVRAM is the regular file ``<vm dir>/<vm name>_VARS.fd`` on its host, and
the volume ``<px>-sys-<vm>-NVRAM`` holds the copy of the last save (see ``actions.tm._nvram``).
So that a VM snapshot holds the NVRAM of its instant:

* create: the file is saved into the volume (``_nvram.save``: a regular file of the volume's
  size read without following links; a VM without the file, one the addon deployed, uses the
  device itself), and the volume joins the disks in the one group snapshot, named like theirs
  (``<px>-sys-<vm>-NVRAM-ONESNAP-<id>-<ts>``). The save has no undo, on purpose: the volume
  then holds what the file holds, which is what the next save point writes anyway.
* revert: the NVRAM volume is reverted with the disks (same temporary copy, same undo) when
  its snapshot exists (a VM snapshot taken before this has none: the NVRAM is left as it is,
  logged), and after the volumes are attached again the file is rewritten from it: a new file
  renamed over the path, the old one kept and renamed back by the undo, so a failed revert
  leaves the file as it was. The domain stays off; its next start opens the reverted NVRAM.
* delete: ``_vmsnap.cleanup_volumes`` already names the NVRAM's snapshot.

The vTPM state is not part of a VM snapshot here: onesp keeps no vTPM state on StorPool (it
lives in files on the host, see ``actions.tm._firmware``), so there is no volume to snapshot.

The VM directory on the host is ``<system datastore BASE_PATH>/<vm id>``, as oned builds it
when the hosts use the front-end's DATASTORE_LOCATION.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional

from ...runtime.errors import BadInput, OnespError
from ...runtime.naming import unique_token
from ..tm import _nvram as nvram
from . import _vmsnap as vmsnap

if TYPE_CHECKING:
    from ...one import Datastore, Vm
    from ...runtime.actioncontext import Context

#: Write the new NVRAM next to the path (exclusively, never through an existing name).
_WRITE_TEMPORARY = (
    'dev=$1; t=$2; n=$3\n'
    'umask 077; set -C\n'
    'dd if="$dev" iflag=count_bytes count="$n" bs=64K conv=fsync status=none > "$t" || exit 1\n'
    's=$(stat -c %s -- "$t") || exit 1\n'
    'if [ "$s" != "$n" ]; then echo "read $s of $n bytes from $dev" >&2; exit 1; fi\n'
)
#: The old regular file kept under a second name, the new one renamed over the path.
_REPLACE = (
    'f=$1; new=$2; old=$3\n'
    'if [ ! -L "$f" ] && [ -f "$f" ]; then ln -T -- "$f" "$old" || exit 1; fi\n'
    'mv -Tf -- "$new" "$f"\n'
)
#: Undo: nothing renamed yet (the new file is still there): remove it and the second name;
#: renamed: the old file back, or the path removed when there was none.
_PUT_BACK = (
    'f=$1; new=$2; old=$3\n'
    'if [ -e "$new" ]; then rm -f -- "$new" "$old"; exit 0; fi\n'
    'if [ -e "$old" ]; then mv -Tf -- "$old" "$f"; else rm -f -- "$f"; fi\n'
)


@dataclass(frozen=True)
class NvramSnapshot:
    """The NVRAM volume of a VM snapshot: its name, its snapshot's, and the NVRAM's size then."""

    volume: str
    snapshot: str
    size: int


def vm_dir(vm: Vm, system_ds: Datastore) -> str:
    if not system_ds.base_path:
        raise BadInput("system datastore %d has no BASE_PATH" % system_ds.id)
    return posixpath.join(str(system_ds.base_path), str(vm.id))


def _nvram_volume(ctx: Context, vm: Vm, system_ds: Datastore) -> Optional[str]:
    """This VM's NVRAM volume when it has one (onesp's NVRAM, on a StorPool system datastore)."""
    if not vm.t_os_nvram or not vmsnap.system_on_storpool(system_ds):
        return None
    name: str = ctx.names.nvram(vm.id)
    return name


def capture(ctx: Context, vm: Vm, system_ds: Datastore, host: str) -> List[str]:
    """Save the NVRAM file into its volume; returns the volumes to add to the group snapshot."""
    name = _nvram_volume(ctx, vm, system_ds)
    if name is None:
        return []
    size = nvram.volume_size(ctx, name)
    if size is None:
        return []
    nvram.save(ctx, host, vm, vm_dir(vm, system_ds), name, size)
    return [name]


def find(ctx: Context, vm: Vm, system_ds: Datastore, snap_id: int, timestamp: int) -> Optional[NvramSnapshot]:
    """The NVRAM snapshot of a VM snapshot, None when the VM or the VM snapshot has none."""
    name = _nvram_volume(ctx, vm, system_ds)
    if name is None:
        return None
    member = vmsnap.member_snapshot(ctx, vm, name, snap_id, timestamp, "NVRAM")
    if member is None:
        return None
    snapshot, found = member
    size = int(found["size"])
    nvram.check_size(size, "NVRAM snapshot %s" % snapshot)
    return NvramSnapshot(name, snapshot, size)


def rewrite_file(ctx: Context, host: str, vm: Vm, system_ds: Datastore, state: NvramSnapshot) -> str:
    """Make the NVRAM file on ``host`` hold the reverted volume (attached there), with undo;
    returns where the old file is kept (``tidy`` removes it once the revert is complete)."""
    directory = vm_dir(vm, system_ds)
    target = nvram.path(vm, directory)
    token = unique_token(8)
    new = posixpath.join(directory, ".onesp-nvram-%s" % token)
    old = posixpath.join(directory, ".onesp-nvram-old-%s" % token)
    node = ctx.host(host)
    ctx.undo(node.run, ["sh", "-c", _PUT_BACK, "sh", target, new, old], what="put %s back" % target,
             label="put the NVRAM file %s back on %s" % (target, host))
    with ctx.step("write the reverted NVRAM of VM %d from %s to %s on %s" % (vm.id, state.volume, target, host)):
        node.run(["sh", "-c", _WRITE_TEMPORARY, "sh", ctx.device_path(state.volume), new, str(state.size)],
                 timeout=nvram.COPY_TIMEOUT, what="read %s" % state.volume)
        node.run(["sh", "-c", _REPLACE, "sh", target, new, old], what="replace %s" % target)
    return old


def tidy(ctx: Context, host: str, old: Optional[str]) -> None:
    """After a complete revert: remove the kept old NVRAM file (a failure is only logged)."""
    if old is None:
        return
    try:
        ctx.host(host).run(["rm", "-f", "--", old], what="remove %s" % old)
    except OnespError as exc:
        ctx.log.error("revert done, but %s on %s stays: %s", old, host, exc)

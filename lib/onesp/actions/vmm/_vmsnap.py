"""The StorPool side of a VM snapshot: which volumes it covers and what its snapshots are called.

A VM snapshot is one StorPool snapshot per volume, all taken in one VolumesGroupSnapshot and
named ``naming.Names.vm_snapshot(volume, snapshot id, timestamp)``; oned stores the
hypervisor id ``naming.Names.vm_snapshot_id(snapshot id, timestamp)``, from which the
snapshot names are rebuilt exactly (never searched for).

Which volumes:

* create: ``disks.vm_volumes`` without CDROMs and without the context ISO (it is rebuilt from
  the VM template and is not the VM's data); READONLY disks too unless
  VMSNAPSHOT_EXCLUDE_READONLY.
* revert: the writable ones of those. A read-only disk cannot have changed through this VM,
  and reverting a read-only persistent image could undo writes made through another VM.
* delete: every StorPool volume of the VM plus its NVRAM, (with a TPM) its vTPM state volume
  and its memory volume, so that snapshots the bash addon made of the context ISO, NVRAM,
  vTPM and memory go too (absent ones cost one call each).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple

from ...runtime import disks
from ...runtime.disks import DiskVolume
from ...runtime.errors import BadInput

if TYPE_CHECKING:
    from ...one import Datastore, Vm
    from ...runtime.actioncontext import Context
    from ...runtime.storpoolanswers import Snapshot


def system_on_storpool(system_ds: Datastore) -> bool:
    return disks.is_storpool_tm(system_ds.tm_mad)


def snapshot_volumes(ctx: Context, vm: Vm, system_ds: Datastore) -> List[DiskVolume]:
    return disks.vm_volumes(ctx.names, vm, system_on_storpool(system_ds), include_cdrom=False,
                            exclude_readonly=ctx.config.VMSNAPSHOT_EXCLUDE_READONLY, include_context=False)


def revert_volumes(ctx: Context, vm: Vm, system_ds: Datastore) -> List[DiskVolume]:
    return disks.vm_volumes(ctx.names, vm, system_on_storpool(system_ds), include_cdrom=False,
                            exclude_readonly=True, include_context=False)


def cleanup_volumes(ctx: Context, vm: Vm, system_ds: Datastore) -> List[str]:
    on_storpool = system_on_storpool(system_ds)
    names = [v.name for v in disks.vm_volumes(ctx.names, vm, on_storpool)]
    if on_storpool and vm.t_os_nvram:
        names.append(ctx.names.nvram(vm.id))
    if on_storpool and vm.tpm_model:
        names.append(ctx.names.swtpm(vm.id))
    if on_storpool:
        names.append(ctx.names.vm_memory(vm.id))  # the memory (VMSNAPSHOT_WITH_CHECKPOINT), whatever the template says now
    return names


def member_snapshot(ctx: Context, vm: Vm, volume: str, snap_id: int, timestamp: int,
                    what: str) -> Optional[Tuple[str, Snapshot]]:
    """The snapshot of ``volume`` (the NVRAM, vTPM or memory volume: ``what``) that VM snapshot
    ``snap_id`` took, with StorPool's answer; None, logged, when it took none (it is not reverted)."""
    snapshot: str = ctx.names.vm_snapshot(volume, snap_id, timestamp)
    with ctx.step("look for the %s snapshot %s" % (what, snapshot)):
        found = ctx.sp.snapshot_or_none(snapshot)
    if found is None:
        ctx.log.info("VM snapshot %d of VM %d has no %s snapshot (%s): that state is not reverted",
                     snap_id, vm.id, what, snapshot)
        return None
    return snapshot, found


def unprotected_disks(vm: Vm, volumes: List[DiskVolume]) -> List[int]:
    """Writable disks the snapshot would not cover (not on StorPool): their data would not revert."""
    covered = {v.disk_id for v in volumes}
    return [d.disk_id for d in vm.disks if d.disk_id not in covered and not d.readonly and not d.is_cdrom]


def parse_id(ctx: Context, hypervisor_id: str) -> Optional[Tuple[int, int]]:
    """(snapshot id, timestamp) of a hypervisor id this driver made, None for any other (libvirt's)."""
    try:
        return ctx.names.parse_vm_snapshot_id(hypervisor_id)
    except BadInput:
        return None


def pairs(ctx: Context, volumes: List[str], snap_id: int, timestamp: int) -> List[Tuple[str, str]]:
    """(volume, snapshot name) of every volume for one VM snapshot."""
    return [(name, ctx.names.vm_snapshot(name, snap_id, timestamp)) for name in volumes]

"""tm delete: a VM disk, or what the StorPool system datastore keeps for a VM directory.

``delete <host>:<vm dir>[/disk.<n>] <vm id> <ds id>``.

A disk path: the volume of exactly that disk (never a name that merely starts the same,
so disk 1 never touches disks 10-19). A per-VM volume (non-persistent, volatile, CDROM)
is deleted through DELAY_DELETE (CDROM clones at once, as the addon does) with
REMOTE_BACKUP_DELETE, and so are its disk snapshots (``<volume>-snap<N>`` for the snapshot
ids the VM document lists, never found by pattern); the volume of a persistent image is never deleted, only detached
and given back (VM tags cleared, qc = DEFAULT_QOSCLASS). With VMSNAPSHOT_DELETE_ON_TERMINATE
the VM snapshots of that volume go too, by the exact names the VM document records.

The VM directory: the VM's volatile disks, its context ISO (at once: it is rebuilt from
oned) and UEFI NVRAM (delayed, unlike the addon: it cannot be rebuilt), then the
directory on the host.

StorPool comes first; a host ssh cannot reach is skipped, and the output says so. A volume
or disk that is already gone is success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, List, Optional, Sequence

from ...runtime import arguments, attaching, disks, limits, snapshotting, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.disks import DiskVolume
from ...runtime.storpoolerrors import ApiBusy, ApiNotFound
from ._common import delete_vm_snapshots, on_host

if TYPE_CHECKING:
    from ...one import Disk, Vm
#: Where this action stops rolling back: its first call deleting the volume (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.DELETE_VOLUME



@dataclass(frozen=True)
class Args:
    """``delete``'s arguments."""

    dst: Annotated[HostPath, "<host>:<vm dir>[/disk.<n>]"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 3)
        return cls(HostPath.parse(a[0], "path"), arguments.vm_id(a[1]), arguments.ds_id(a[2]))


def run(ctx: Context) -> Optional[str]:
    args = Args.parse(ctx.action, ctx.argv)
    path = args.dst
    with ctx.step("read datastore %d" % args.ds_id):
        datastore = ctx.one.datastore(args.ds_id)
    ctx.use_datastore(datastore)
    with ctx.step("read VM %d" % args.vm_id):
        vm = ctx.one.vm(args.vm_id)
    node = ctx.host(path.host)
    if path.disk_id is not None:
        _delete_disk(ctx, vm, path.disk_id)
        reached = on_host(ctx, path.host, "remove %s" % path.path, node.remove, path.path)
    else:
        if disks.is_storpool_tm(datastore.tm_mad):
            _delete_system_volumes(ctx, vm)
        reached = on_host(ctx, path.host, "remove %s" % path.path, node.remove_tree, path.path)
    if reached:
        return None
    return "host %s is unreachable: the StorPool part is done, removing %s there was skipped" % (path.host, path.path)


def _delete_disk(ctx: Context, vm: Vm, disk_id: int) -> None:
    if not vm.has_disk(disk_id):
        ctx.log.info("VM %d has no disk %d any more; only its path on the host is removed", vm.id, disk_id)
        return
    disk = vm.disk(disk_id)
    volume = disks.disk_volume(ctx.names, vm.id, disk)
    if volume.per_vm:
        _delete_volume(ctx, vm, volume)
        _delete_disk_snapshots(ctx, disk, volume)
    else:
        _give_back(ctx, volume)
    delete_vm_snapshots(ctx, vm, [volume.name])


def _delete_volume(ctx: Context, vm: Vm, volume: DiskVolume) -> bool:
    """A per-VM volume; CDROM/IMMUT clones are copies of an image, deleted at once as by the addon.
    Returns False when it was already gone."""
    keep = volume.type_tag not in ("CDROM", "IMMUT")
    remote = str(ctx.config.REMOTE_BACKUP_DELETE or "") if keep else ""
    return volumes.delete(ctx, volume.name, tags=ctx.tags.vm_group(vm.id), delayed=keep, remote_backup=remote or None)


def _delete_disk_snapshots(ctx: Context, disk: Disk, volume: DiskVolume) -> None:
    """The disk snapshots of a per-VM volume: they would otherwise outlive it as orphans."""
    snapshotting.delete_snapshots(ctx, [ctx.names.disk_snapshot(volume.name, snap.id) for snap in disk.snapshots])


def _give_back(ctx: Context, volume: DiskVolume) -> None:
    """The persistent image's own volume: detached everywhere and stripped of the VM's tags
    (and, with SP_DISK_LIMITS, of the disk's limits).

    Detaching is forced unless the disk is READONLY; then a refusal is only logged, as the
    addon's "soft fail" does.
    """
    name = volume.name
    with ctx.step("detach %s from all hosts" % name):
        try:
            attaching.detach_all(ctx, name, force=not volume.readonly,
                               no_undo="past the point of no return of a delete (DELETE_VOLUME)")
        except ApiNotFound:
            ctx.log.info("volume %s of a persistent image is gone, nothing to give back", name)
            return
        except ApiBusy as exc:
            if not volume.readonly:
                raise
            ctx.log.warning("READONLY volume %s stays attached where it is open: %s", name, exc)
    volumes.retag(ctx, name, ctx.tags.released(str(ctx.config.DEFAULT_QOSCLASS or "")),
                  limits=limits.NONE if limits.enabled(ctx.config) else None)


def _delete_system_volumes(ctx: Context, vm: Vm) -> None:
    """Volatile disks, context ISO, NVRAM, memory checkpoint and vTPM state volume of the VM (each by its exact name).

    The VM snapshots of all of them are deleted by their exact names whether or not the
    volume was still there: an earlier run that failed half-way may have deleted a volume
    and not yet its VM snapshots (oned retries the line).
    """
    names: List[str] = []
    for disk in vm.disks:
        if disk.is_volatile:
            volume = disks.disk_volume(ctx.names, vm.id, disk)
            _delete_volume(ctx, vm, volume)
            _delete_disk_snapshots(ctx, disk, volume)
            names.append(volume.name)
    context = disks.context_volume(ctx.names, vm)
    if context is not None:
        volumes.delete(ctx, context.name, delayed=False)
        names.append(context.name)
    nvram = ctx.names.nvram(vm.id)
    volumes.delete(ctx, nvram, tags=ctx.tags.vm_group(vm.id))
    names.append(nvram)
    # a memory checkpoint a save left and no restore consumed (SP_CHECKPOINT): deleted at once
    volumes.delete(ctx, ctx.names.checkpoint(vm.id), delayed=False)
    if vm.tpm_model:  # the vTPM state volume of VM snapshots (onesp's or the addon's)
        volumes.delete(ctx, ctx.names.swtpm(vm.id), tags=ctx.tags.vm_group(vm.id))
        names.append(ctx.names.swtpm(vm.id))
    delete_vm_snapshots(ctx, vm, names)

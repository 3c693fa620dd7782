"""vmm snapshot_revert: put every disk of a VM back to the data of one VM snapshot.

``snapshot_revert-storpool <domain> <hypervisor id> <vm id> <host>`` (VM_MAD
``-l snapshotrevert=snapshot_revert-storpool``). Prints nothing.

Order, so that a failure changes nothing:

1. every snapshot of the VM snapshot is looked up first; one missing refuses the revert
   before the domain is touched;
2. the domain is stopped (``virsh destroy``; it stays off afterwards, as with the addon:
   oned's monitoring then sees the VM powered off and the user resumes it);
3. the volumes are detached (StorPool refuses to revert an attached volume);
4. a snapshot of each volume keeps its current data under a temporary name derived from
   the VM snapshot (``<volume>-SPTMP-<snap id>-<ts>``) that expires by itself after a day
   (``deleteAfter``), so no failure can leave it behind for good;
5. each volume is reverted in place with VolumeRevert (name, template, tags and global id
   stay), then grown back to the disk's size in oned if it was resized after the snapshot;
6. the volumes are attached to the host again (the NVRAM volume, reverted with the disks when
   the VM snapshot has it, is then written to the NVRAM file, and the vTPM state unpacked
   into ``<vm dir>/tpm``: ``_vmstate``, ``_vmtpm``); when the VM snapshot has the guest's
   memory, the domain is restored from it (``_vmmemory``) instead of staying off; then the
   temporary snapshots are deleted.

If any step of 3-6 fails, the undo stack reverts the volumes already reverted back to their
temporary snapshot (registered before each revert, so a revert that took effect but reported
an error is put back too), deletes the temporary snapshots and attaches the volumes again:
every disk ends with its pre-revert data. If only the final deletion fails, the revert is
complete: the action says so in its error line, and the copies expire by themselves (a
re-run replaces them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, List, Mapping, Optional

from ...runtime import attaching, libvirt, snapshotting, volumes
from ...runtime.errors import NotFound, OnespError
from ...runtime.storpoolerrors import ApiNotFound
from . import _document as document
from . import _stock as stock
from . import _vmmemory as vmmemory
from . import _vmsnap as vmsnap
from . import _vmstate as vmstate
from . import _vmtpm as vmtpm
from ._args import snapshot_args

#: Where this action stops rolling back: the revert in place (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.REVERT

if TYPE_CHECKING:
    from ...one import Datastore, Vm
    from ...runtime.actioncontext import Context

MIB = 1024 * 1024
#: How long a temporary copy of a disk's pre-revert data lives if nobody deletes it.
TEMPORARY_SECONDS = 86400


@dataclass(frozen=True)
class Revert:
    volume: str
    snapshot: str
    grow_to: Optional[int]  # bytes, when the disk is larger in oned than the snapshot


def run(ctx: Context) -> None:
    args = snapshot_args("snapshot_revert", ctx.argv)
    source = document.load(ctx, args.vm_id)
    vm = source.vm
    parsed = vmsnap.parse_id(ctx, args.hypervisor_id)
    if parsed is None:
        ctx.log.info("%s is not a StorPool VM snapshot: the stock kvm snapshot_revert handles it", args.hypervisor_id)
        stock.run(ctx, args.host, "snapshot_revert", args.raw, source.document)
        return
    with ctx.step("find the snapshots of %s of VM %d" % (args.hypervisor_id, vm.id)):
        plan = find_snapshots(ctx, vm, source.system_ds, *parsed)
        nvram = vmstate.find(ctx, vm, source.system_ds, *parsed)
        plan += [Revert(nvram.volume, nvram.snapshot, None)] if nvram else []
        tpm = vmtpm.find(ctx, vm, source.system_ds, *parsed)
        memory = vmmemory.find(ctx, vm, source.system_ds, *parsed)
    client = ctx.client_id(args.host)
    libvirt.stop(ctx, args.host, args.domain)
    names = [item.volume for item in plan]

    ctx.undo(attach_all, ctx, names, client, label="attach the volumes of VM %d to %s again" % (vm.id, args.host))
    with ctx.step("detach the volumes of VM %d" % vm.id):
        attaching.reassign(ctx, [{"volume": name, "detach": "all", "force": True} for name in names],
                         no_undo="attach_all, registered first")

    token = "%d-%d" % parsed
    keep = [(name, ctx.names.temporary(name, "SPTMP", token)) for name in names]
    ctx.undo(drop_snapshots, ctx, [k for _, k in keep], label="delete the temporary snapshots of VM %d" % vm.id)
    for name, kept in keep:
        with ctx.step("keep the current data of %s as %s" % (name, kept)):
            keep_copy(ctx, name, kept, ctx.tags.vm_group(vm.id))

    for item, (_, kept) in zip(plan, keep):
        ctx.undo(snapshotting.put_back, ctx, item.volume, kept, label="put %s back to its data before the revert" % item.volume)
        with ctx.step("revert %s to %s" % (item.volume, item.snapshot)):
            snapshotting.revert(ctx, item.volume, item.snapshot)
            if item.grow_to is not None:
                volumes.resize(ctx, item.volume, item.grow_to,
                               no_undo="putting the volume back (put_back) restores its size as well")

    with ctx.step("attach the volumes of VM %d to %s" % (vm.id, args.host)):
        attach_all(ctx, names, client)
    old_nvram = vmstate.rewrite_file(ctx, args.host, vm, source.system_ds, nvram) if nvram else None
    tpm_work = vmtpm.put_back(ctx, args.host, vm, source.system_ds, tpm) if tpm else []
    if memory:
        vmmemory.start_from(ctx, args.host, args.domain, memory)
    ctx.undo_stack.drop()  # the revert is complete; what follows is tidying up
    vmstate.tidy(ctx, args.host, old_nvram)
    vmtpm.tidy(ctx, args.host, tpm_work)
    with ctx.step("delete the temporary snapshots of VM %d (the revert itself is complete; "
                  "they expire by themselves)" % vm.id):
        drop_snapshots(ctx, [k for _, k in keep])


def find_snapshots(ctx: Context, vm: Vm, system_ds: Datastore, snap_id: int, timestamp: int) -> List[Revert]:
    """One Revert per writable StorPool volume; NotFound (naming them) if any snapshot is missing."""
    disk_volumes = vmsnap.revert_volumes(ctx, vm, system_ds)
    if not disk_volumes:
        raise NotFound("VM %d has no writable StorPool volume" % vm.id)
    plan: List[Revert] = []
    missing: List[str] = []
    for volume in disk_volumes:
        name = ctx.names.vm_snapshot(volume.name, snap_id, timestamp)
        found = ctx.sp.snapshot_or_none(name)
        if found is None:
            missing.append(name)
            continue
        size_mb = vm.disk(volume.disk_id).size
        wanted = size_mb * MIB if size_mb else None
        plan.append(Revert(volume.name, name, wanted if wanted and wanted > int(found["size"]) else None))
    if missing:
        raise NotFound("%s missing; nothing was changed" % ", ".join(missing))
    return plan


def attach_all(ctx: Context, names: List[str], client: int) -> None:
    attaching.reassign(ctx, [{"volume": name, "rw": [client]} for name in names],
                     attach_timeout=ctx.config.ATTACH_TIMEOUT,
                     no_undo="it is the last step of the revert, or the undo of its detach")


def keep_copy(ctx: Context, volume: str, kept: str, tags: Mapping[str, str]) -> None:
    """Snapshot ``volume`` as ``kept`` (expiring after a day); a copy left by an earlier,
    interrupted run of the same revert is replaced, since the data to keep is today's."""
    snapshotting.replace_snapshot(ctx, volume, kept, tags=tags, delete_after=TEMPORARY_SECONDS)


def drop_snapshots(ctx: Context, names: Iterable[str]) -> None:
    """Delete the temporary snapshots (never attached); missing ones are fine.

    Tries every name; the first failure is raised at the end.
    """
    first: Optional[OnespError] = None
    for name in names:
        try:
            snapshotting.drop_snapshot(ctx, name, no_undo="a temporary copy: removing it is the undo, or tidying up")
        except ApiNotFound:
            continue
        except OnespError as exc:
            ctx.log.error("could not delete the temporary snapshot %s: %s", name, exc)
            first = first or exc
    if first is not None:
        raise first

"""vmm snapshot_create: one crash-consistent StorPool snapshot of every disk of a VM.

``snapshot_create-storpool <domain> <snapshot id> <vm id> <host>`` (VM_MAD
``-l snapshotcreate=snapshot_create-storpool``). Prints the hypervisor id
``ONESNAP-<snapshot id>-<timestamp>`` that oned stores with the snapshot.

All the VM's StorPool volumes are snapshotted by one VolumesGroupSnapshot, which StorPool
applies to all of them or to none. With VMSNAPSHOT_FSFREEZE the guest's filesystems are
frozen around it and always thawed. The timestamp is the TIME oned gave the snapshot record,
so a repeated run of the same request finds and keeps what the first run made instead of
taking a second set. A VM without any StorPool disk is left to the stock kvm script; a VM
with writable disks elsewhere is refused, since part of it would not revert. The UEFI NVRAM
(``_vmstate``) and the vTPM state (``_vmtpm``) are written into their volumes first, and those
join the group snapshot. With VMSNAPSHOT_WITH_CHECKPOINT the domain is saved into its memory
volume, which joins them too, and restored from it afterwards (``_vmmemory``); the guest's
filesystems need no freeze then.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, List, Mapping, Optional, Tuple

from ...runtime import libvirt, snapshotting, volumes
from ...runtime.errors import AlreadyExists, ConfigError, LimitReached, OnespError, Unsupported
from ...runtime.storpoolerrors import ApiExists
from . import _document as document
from . import _stock as stock
from . import _vmmemory as vmmemory
from . import _vmsnap as vmsnap
from . import _vmstate as vmstate
from . import _vmtpm as vmtpm
from ._args import snapshot_create_args

if TYPE_CHECKING:
    from ...one import Vm
    from ...runtime.actioncontext import Context

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Context) -> Optional[str]:
    args = snapshot_create_args(ctx.argv)
    source = document.load(ctx, args.vm_id)
    vm = source.vm
    disk_volumes = vmsnap.snapshot_volumes(ctx, vm, source.system_ds)
    if not disk_volumes:
        ctx.log.info("VM %d has no StorPool volume: the stock kvm snapshot_create handles it", vm.id)
        return stock.run(ctx, args.host, "snapshot_create", args.raw, source.document).strip() or None
    if not ctx.config.VMSNAPSHOT_OVERRIDE:
        raise Unsupported("StorPool VM snapshots are disabled (VMSNAPSHOT_OVERRIDE=0 in %s)"
                          % ctx.config.origin("VMSNAPSHOT_OVERRIDE"))
    with ctx.step("check the disks of VM %d" % vm.id):
        outside = vmsnap.unprotected_disks(vm, disk_volumes)
        if outside:
            raise Unsupported("disk %s of VM %d is not on StorPool, so a StorPool VM snapshot cannot cover it"
                              % (", ".join(str(d) for d in outside), vm.id))
    with ctx.step("check VMSNAPSHOT_LIMIT of VM %d" % vm.id):
        check_limit(ctx, vm, args.snap_id)
    timestamp = record_time(vm, args.snap_id)
    hypervisor_id = ctx.names.vm_snapshot_id(args.snap_id, timestamp)
    extra = vmstate.capture(ctx, vm, source.system_ds, args.host)  # the NVRAM volume, saved from its file
    extra += vmtpm.capture(ctx, vm, source.system_ds, args.host, args.domain)  # the vTPM state volume
    tags = ctx.tags.vm_group(vm.id)
    if vmmemory.wanted(vm, source.system_ds):  # the domain is saved (stopped) while the disks are taken
        saved = vmmemory.save(ctx, vm, source.system_ds, args.host, args.domain)
        pairs = vmsnap.pairs(ctx, [v.name for v in disk_volumes] + extra + [saved.volume], args.snap_id, timestamp)
        group_snapshot(ctx, vm.id, hypervisor_id, pairs, tags)
        vmmemory.finish(ctx, saved)
        return hypervisor_id
    pairs = vmsnap.pairs(ctx, [v.name for v in disk_volumes] + extra, args.snap_id, timestamp)
    if ctx.config.VMSNAPSHOT_FSFREEZE:
        with libvirt.frozen(ctx, args.host, args.domain):
            group_snapshot(ctx, vm.id, hypervisor_id, pairs, tags)
    else:
        group_snapshot(ctx, vm.id, hypervisor_id, pairs, tags)
    return hypervisor_id


def check_limit(ctx: Context, vm: Vm, snap_id: int) -> None:
    """VMSNAPSHOT_LIMIT: VM user template > system datastore > global; counts the VM's other snapshots."""
    if not ctx.config.VMSNAPSHOT_ENABLE_LIMIT:
        return
    raw = vm.user_template.text("VMSNAPSHOT_LIMIT")
    limit: Optional[int]
    if raw is not None:
        if not raw.isdigit():
            raise ConfigError("VMSNAPSHOT_LIMIT in the user template of VM %d: expected a whole number, got %r"
                              % (vm.id, raw))
        limit, where = int(raw), "the user template of VM %d" % vm.id
    else:
        limit, where = ctx.config.limit("VMSNAPSHOT_LIMIT"), ctx.config.origin("VMSNAPSHOT_LIMIT")
    if limit is None:
        return
    others = [s for s in vm.vm_snapshots if s.snapshot_id != snap_id]
    if len(others) >= limit:
        raise LimitReached("VM %d already has %d snapshot(s), VMSNAPSHOT_LIMIT is %d (%s)"
                           % (vm.id, len(others), limit, where))


def record_time(vm: Vm, snap_id: int) -> int:
    """The TIME of oned's record of this snapshot (stable across retries), else now."""
    for snap in vm.vm_snapshots:
        if snap.snapshot_id == snap_id and snap.time:
            return int(snap.time)
    return int(time.time())


def group_snapshot(ctx: Context, vm_id: int, label: str, pairs: List[Tuple[str, str]], tags: Mapping[str, str]) -> None:
    """Take the group snapshot; leave nothing behind if the call fails, adopt an identical earlier one."""
    names = [snapshot for _, snapshot in pairs]
    for name in sorted(names):  # one order for every run: two runs never wait for each other crosswise
        volumes.hold(ctx, name)
    with ctx.step("take snapshot %s of the %d volume(s) of VM %d" % (label, len(pairs), vm_id)):
        try:
            snapshotting.group_snapshot(ctx, pairs, tags, no_undo="registered right after it (delete_snapshots); a failed "
                                                             "call is cleaned up at once (forget)")
        except ApiExists as exc:
            if not taken_earlier(ctx, pairs, tags):
                raise AlreadyExists("a snapshot named like this VM snapshot exists and does not belong to VM %d"
                                    % vm_id) from exc
            ctx.log.info("the snapshots of this VM snapshot exist from an earlier run: keeping them")
            return  # an earlier run's: never removed by this run's undo
        except OnespError:
            forget(ctx, names)
            raise
    ctx.undo(snapshotting.delete_snapshots, ctx, names, label="delete the snapshots of VM %d" % vm_id)


def taken_earlier(ctx: Context, pairs: List[Tuple[str, str]], tags: Mapping[str, str]) -> bool:
    """True when every snapshot of the group exists and carries this VM's group tags."""
    for _, name in pairs:
        found = ctx.sp.snapshot_or_none(name)
        if found is None or any(found.get("tags", {}).get(k) != v for k, v in tags.items()):
            return False
    return True


def forget(ctx: Context, names: List[str]) -> None:
    """Delete what a failed group snapshot call may still have made (an error can follow the effect)."""
    try:
        snapshotting.delete_snapshots(ctx, names)
    except OnespError as exc:
        ctx.log.error("could not remove the snapshots of a failed group snapshot: %s", exc)

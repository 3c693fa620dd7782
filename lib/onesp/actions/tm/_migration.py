"""Moving a VM's StorPool volumes between hosts: which volumes, few calls, exact undo.

mv, premigrate, postmigrate and failmigrate all change where a VM's volumes are attached.
They describe the change as a list of ``Change`` (detach from some clients, attach to
another, or both) and ``apply`` sends it as one VolumesReassignWait per StorPool API
endpoint (in practice one call for the whole VM), with the inverse change as its undo.

Two kinds of volume need care:

* a persistent READONLY image (``shared``) may be in use by other VMs on the same host,
  so it is never force-detached: StorPool answers ``busy`` while it is open and that
  answer is accepted (the addon's "soft fail");
* a CDROM's per-VM clone may be missing for VMs deployed by old addon releases; it is
  made again from the image volume. The NVRAM volume is ``optional``: absent means the
  VM has none.

Nothing here lists the cluster: existence is learnt from the reassign answer itself and,
only when it says a volume is missing, from one read per candidate volume.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ...runtime import attaching as attach_steps
from ...runtime import disks
from ...runtime import volumes as volume_steps
from ...runtime.actioncontext import Context
from ...runtime.errors import BadInput, NotFound
from ...runtime.storpoolerrors import ApiBusy, ApiNotFound
from . import _common as common

if TYPE_CHECKING:
    from ...one import Datastore, Disk, Vm
    from ...runtime.storpoolapi import StorPool

#: Whom a change detaches a volume from: some clients, or ``"all"`` of them.
Client = Union[Tuple[int, ...], str]


@dataclass(frozen=True)
class VmVolume:
    """One StorPool volume that follows a VM from host to host."""

    name: str
    datastore_id: int  # whose StorPool endpoint holds it
    readonly: bool  # attached with READONLY_MODE
    shared: bool  # a persistent READONLY image: never force-detached, ``busy`` accepted
    disk_id: Optional[int] = None  # ``disk.<n>`` in the VM directory points at it (None: NVRAM)
    base: Optional[str] = None  # a CDROM clone is made again from this image volume if missing
    optional: bool = False  # may not exist (NVRAM)
    vm_id: Optional[int] = None
    type_tag: Optional[str] = None


@dataclass(frozen=True)
class Change:
    """What happens to one volume: detached from ``detach`` (clients, or ``"all"``), attached
    to ``attach``; ``restore`` is the client a detach is undone onto (None: not restored,
    e.g. stale attachments of earlier hosts)."""

    volume: VmVolume
    detach: Optional[Client] = None
    attach: Optional[int] = None
    restore: Optional[int] = None


def member(vm: Vm, volume: "disks.DiskVolume", datastore_id: int) -> VmVolume:
    """A ``disks.DiskVolume`` of ``vm`` as a migrating volume."""
    base = volume.base if volume.type_tag == "CDROM" else None
    return VmVolume(volume.name, datastore_id, volume.readonly, volume.readonly and not volume.per_vm,
                    volume.disk_id, base, False, int(vm.id), volume.type_tag)


def vm_members(ctx: Context, vm: Vm, system_ds_id: int, system_on_storpool: bool) -> List[VmVolume]:
    """Every StorPool volume of ``vm``: image disks on a storpool TM and, when the system
    datastore is StorPool, volatile disks, the context ISO and the UEFI NVRAM."""
    found: List[VmVolume] = []
    image_disks = {d.disk_id: d for d in vm.disks if not d.is_volatile}
    for volume in disks.vm_volumes(ctx.names, vm, system_on_storpool):
        disk = image_disks.get(volume.disk_id) if volume.type_tag != "CNTXT" else None
        ds_id = disk.datastore_id if disk is not None and disk.datastore_id is not None else system_ds_id
        found.append(member(vm, volume, ds_id))
    if system_on_storpool and vm.t_os_nvram:
        common.nvram_file(vm)  # a VM name that cannot name its NVRAM file is refused before any change
        found.append(VmVolume(ctx.names.nvram(vm.id), system_ds_id, False, False, None, None, True, int(vm.id),
                              "NVRAM"))
    return found


def foreign_disks(vm: Vm) -> List[Disk]:
    """Image disks on a TM that is neither StorPool nor Ceph (the addon's "not storpool" set)."""
    return [d for d in vm.disks if not d.is_volatile and not disks.is_storpool_tm(d.tm_mad)
            and str(d.tm_mad or "") != "ceph"]


# -- one reassign per endpoint -----------------------------------------------------------------


@contextlib.contextmanager
def using_datastore(ctx: Context, datastore: Datastore) -> Iterator[None]:
    """Talk to ``datastore``'s StorPool endpoint inside the block, then restore the configuration."""
    saved = ctx.config
    ctx.use_datastore(datastore)
    try:
        yield
    finally:
        ctx.config = saved


def by_endpoint(ctx: Context, changes: Sequence[Change]) -> List[Tuple[Datastore, List[Change]]]:
    """Changes grouped by the StorPool API endpoint of their volumes' datastores (in order)."""
    groups: Dict[Tuple[str, int], Tuple[Datastore, List[Change]]] = {}
    for change in changes:
        ds_id = change.volume.datastore_id
        with ctx.step("read datastore %d" % ds_id):
            datastore: Datastore = ctx.one.datastore(ds_id)
        cfg = ctx.base_config.with_datastore(datastore.template, "datastore %d" % ds_id)
        groups.setdefault(cfg.endpoint, (datastore, []))[1].append(change)
    return list(groups.values())


def apply(ctx: Context, changes: Sequence[Change], what: str) -> List[Change]:
    """Send ``changes`` (one VolumesReassignWait per endpoint); returns the changes made.

    The inverse change (detach what is attached, attach again what is detached, with the
    same rights) is registered as undo *before* the call: a call that took effect but whose
    answer was lost must be undone too, and undoing a change that did not happen is a no-op.
    """
    done: List[Change] = []
    for datastore, group in by_endpoint(ctx, changes):
        with using_datastore(ctx, datastore):
            sp = ctx.sp
            timeout = ctx.config.ATTACH_TIMEOUT
            inverse = [item for change in group for item in _inverse_items(ctx, change)]
            if inverse:
                attach_steps.undo_reassign(ctx, inverse, timeout, label="undo: %s" % what)
            with ctx.step(what):
                done.extend(_send(ctx, sp, group, timeout))
    return done


#: Why a reassign of a group registers no undo of its own.
GROUP_UNDO = "the inverse of the whole group is registered before it is sent (undo_reassign)"


def _send(ctx: Context, sp: StorPool, group: List[Change], timeout: int, retried: bool = False) -> List[Change]:
    if not group:
        return []
    items = [_item(ctx, change) for change in group]
    attaching = any(change.attach is not None for change in group)
    try:
        attach_steps.reassign(ctx, items, attach_timeout=timeout if attaching else None, no_undo=GROUP_UNDO)
        return list(group)
    except ApiNotFound:
        if retried:
            raise
        return _send(ctx, sp, _present(ctx, sp, group), timeout, retried=True)
    except ApiBusy:
        if not any(c.volume.shared and c.detach is not None for c in group):
            raise
        return _send_soft(ctx, sp, group, timeout)


def _send_soft(ctx: Context, sp: StorPool, group: List[Change], timeout: int) -> List[Change]:
    """A shared READONLY image is open on the client (another VM uses it): everything else
    in one call, then each such detach alone, its ``busy`` accepted."""
    firm = [c for c in group if not (c.volume.shared and c.detach is not None)]
    soft = [c for c in group if c.volume.shared and c.detach is not None]
    made = _send(ctx, sp, firm, timeout)
    for change in soft:
        try:
            attach_steps.reassign(ctx, [_item(ctx, change)], attach_timeout=timeout if change.attach is not None else None,
                             no_undo=GROUP_UNDO)
            made.append(change)
        except ApiBusy:
            ctx.log.info("%s is in use on client %s, left attached there", change.volume.name, change.detach)
            if change.attach is not None:
                attach_only = Change(change.volume, None, change.attach, None)
                attach_steps.reassign(ctx, [_item(ctx, attach_only)], attach_timeout=timeout, no_undo=GROUP_UNDO)
                made.append(attach_only)
    return made


def _present(ctx: Context, sp: StorPool, group: List[Change]) -> List[Change]:
    """After ``objectDoesNotExist``: the changes whose volume exists (CDROM clones made again)."""
    kept: List[Change] = []
    for change in group:
        volume = change.volume
        if sp.volume_or_none(volume.name) is not None:
            kept.append(change)
        elif volume.base and change.attach is not None:
            _recreate_cdrom_clone(ctx, sp, volume)
            kept.append(change)
        elif volume.optional or change.attach is None:
            ctx.log.info("volume %s does not exist, nothing to move", volume.name)
        else:
            where = "disk %d" % volume.disk_id if volume.disk_id is not None else "the VM"
            raise NotFound("volume %s of %s does not exist" % (volume.name, where))
    return kept


def _recreate_cdrom_clone(ctx: Context, sp: StorPool, volume: VmVolume) -> None:
    """The per-VM clone of a CDROM image (VMs deployed before the addon used per-VM CDROMs)."""
    tags = ctx.tags.vm_disk(volume.vm_id, volume.disk_id, "CDROM")
    with ctx.step("create volume %s from %s" % (volume.name, volume.base)):
        volume_steps.create_or_skip(ctx, volume.name, base_on=volume.base, tags=tags)


def _rights(ctx: Context, volume: VmVolume) -> str:
    return "ro" if common.attach_readonly(ctx, volume.readonly) else "rw"


def _item(ctx: Context, change: Change) -> Dict[str, Any]:
    item: Dict[str, Any] = {"volume": change.volume.name}
    if change.detach is not None:
        item["detach"] = "all" if change.detach == "all" else [int(c) for c in change.detach]
        item["force"] = not change.volume.shared
    if change.attach is not None:
        item[_rights(ctx, change.volume)] = [int(change.attach)]
    return item


def _inverse_items(ctx: Context, change: Change) -> List[Dict[str, Any]]:
    item: Dict[str, Any] = {"volume": change.volume.name}
    if change.attach is not None and change.attach != change.restore:
        item["detach"] = [int(change.attach)]
        item["force"] = not change.volume.shared
    if change.detach is not None and change.restore is not None and change.restore != change.attach:
        item[_rights(ctx, change.volume)] = [int(change.restore)]
    return [item] if len(item) > 1 else []


# -- the destination's VM directory -------------------------------------------------------------


def moved(changes: Sequence[Change]) -> List[VmVolume]:
    """The volumes ``apply`` changed (once each, in order): an absent NVRAM is not among them,
    so nothing is read from a device that will not appear."""
    found: List[VmVolume] = []
    for change in changes:
        if change.volume not in found:
            found.append(change.volume)
    return found


def link(ctx: Context, host: str, vm_dir: str, volumes: Sequence[VmVolume], marker: Optional[str]) -> None:
    """Point ``<vm_dir>/disk.<n>`` on ``host`` at each volume's device (atomically); undo puts
    back what was there. The NVRAM has no link: its file is written from the volume (``_nvram``)."""
    for volume in volumes:
        if volume.disk_id is not None:
            attach_steps.link_path(ctx, host, ctx.device_path(volume.name), "%s/disk.%d" % (vm_dir, volume.disk_id),
                                   marker)


def nvram_member(volumes: Sequence[VmVolume]) -> Optional[VmVolume]:
    """The UEFI NVRAM volume among ``volumes`` (None: the VM has none here)."""
    return next((v for v in volumes if v.type_tag == "NVRAM"), None)


# -- the VM document of the migrate hooks --------------------------------------------------------


def migrating_vm(ctx: Context, vm_id: int) -> Vm:
    """The VM document oned gives premigrate/postmigrate/failmigrate on stdin (base64), or,
    when run by hand without one, the VM as oned describes it now."""
    from ...one import decode_vm_document

    data = ctx.stdin
    if data and data.strip():
        with ctx.step("decode the VM document"):
            vm = decode_vm_document(data)
        if int(vm.id) != vm_id:
            raise BadInput("the VM document on stdin is VM %d, not VM %d" % (vm.id, vm_id))
        ctx.one.remember(vm)
        return vm
    with ctx.step("read VM %d" % vm_id):
        read: Vm = ctx.one.vm(vm_id)
    return read

"""The guest's memory in VM snapshots (VMSNAPSHOT_WITH_CHECKPOINT in the VM's user template),
in the addon's form: the volume ``<px>-sys-<vm>`` joins the disks in the group snapshot.

For a running VM on a StorPool system datastore whose user template says
``VMSNAPSHOT_WITH_CHECKPOINT = YES`` (also 1, TRUE, ON):

* create: the volume is made (twice the VM's MEMORY, as for a save checkpoint; template
  ``<px>-ds-<system ds>``, tags of the VM's system volumes with type CHKPNT), attached to the
  host, and the domain is saved into its device (``virsh save``, which stops the domain), so
  the disks and the memory are taken at the same instant. Until the save has succeeded each
  step is undone (attachment, volume). After it the volume holds the only copy of the guest's
  memory: the undo is then "restore the domain from the volume (three tries), then delete the
  volume", and the volume is kept if the domain cannot be restored. Once the group snapshot
  is taken the domain is restored the same way; deleting the volume afterwards is only
  tidying up (a failure is logged), its snapshot keeps the memory.
* revert: when the VM snapshot has a memory snapshot, it is attached read-only to the host
  after the disks are back, the domain is restored from it (``virsh restore``) instead of
  staying off, and the snapshot is detached. A failed restore undoes the whole revert.
* delete: ``_vmsnap.cleanup_volumes`` names the memory snapshot.

A volume of that name that already exists (the memory of an earlier run whose domain could
not be restored) is never overwritten: the snapshot is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from ...runtime import volumes
from ...runtime.errors import BadInput, HostError, OnespError
from ...runtime.libvirt import virsh
from . import _vmsnap as vmsnap

if TYPE_CHECKING:
    from ...one import Datastore, Vm
    from ...runtime.actioncontext import Context, UndoEntry

#: Values of VMSNAPSHOT_WITH_CHECKPOINT that ask for the memory.
_YES = ("yes", "1", "true", "on")
#: Saving or restoring a large guest's memory takes a while.
TIMEOUT = 3600
#: The addon tries a restore three times before giving up.
RESTORE_TRIES = 3
RETRY_SECONDS = 1.0


def wanted(vm: Vm, system_ds: Datastore) -> bool:
    """Whether this VM's snapshots take its memory."""
    value = (vm.vmsnapshot_with_checkpoint or "").strip().lower()
    return value in _YES and vmsnap.system_on_storpool(system_ds)


@dataclass(frozen=True)
class Saved:
    """A domain saved into its memory volume, and the undo that restores it from there."""

    host: str
    domain: str
    volume: str
    device: str
    undo: UndoEntry


def save(ctx: Context, vm: Vm, system_ds: Datastore, host: str, domain: str) -> Saved:
    """Save the running domain into the memory volume (which then joins the group snapshot)."""
    if not vm.memory or vm.memory <= 0:
        raise BadInput("VM %d has no MEMORY, so its memory volume cannot be sized" % vm.id)
    name = ctx.names.vm_memory(vm.id)
    first = len(ctx.undo_stack.entries)
    volumes.create(ctx, name, tags=ctx.tags.vm_disk(vm.id, disk_type="CHKPNT"), size_mb=2 * vm.memory,
                   template=ctx.names.template(system_ds.id))
    device = volumes.attach(ctx, name, host)
    with ctx.step("save the memory of domain %s into %s on %s" % (domain, name, host)):
        ctx.host(host).run(virsh(ctx, "save", domain, device), timeout=TIMEOUT,
                           what="virsh save %s %s" % (domain, device))
    for entry in ctx.undo_stack.entries[first:]:  # the volume now holds the guest's memory: nothing may delete it
        ctx.undo_stack.discard(entry)
    undo = ctx.undo(resume, ctx, host, domain, name, device, label="restore domain %s from %s" % (domain, name))
    return Saved(host, domain, name, device, undo)


def finish(ctx: Context, saved: Saved) -> None:
    """After the group snapshot: restore the domain from the volume, then delete the volume.

    A failed restore fails the action (its undo tries again); the volume is deleted only once
    the domain runs again, and a failure there is only logged (its snapshot keeps the memory).
    """
    with ctx.step("restore domain %s from %s on %s" % (saved.domain, saved.volume, saved.host)):
        restore(ctx, saved.host, saved.domain, saved.device)
    ctx.undo_stack.discard(saved.undo)
    try:
        volumes.delete(ctx, saved.volume, delayed=False)
    except OnespError as exc:
        ctx.log.warning("domain %s runs again, but its memory volume %s stays: %s", saved.domain, saved.volume, exc)


def resume(ctx: Context, host: str, domain: str, name: str, device: str) -> None:
    """The undo of a save: restore the domain from the volume, then delete the volume.

    If the domain cannot be restored the volume stays (attached): it holds the guest's memory.
    """
    restore(ctx, host, domain, device)
    volumes.delete(ctx, name, delayed=False)


def restore(ctx: Context, host: str, domain: str, device: str) -> None:
    """``virsh restore`` of ``device`` on ``host``, up to RESTORE_TRIES times."""
    failure: Optional[HostError] = None
    for attempt in range(RESTORE_TRIES):
        if attempt:
            time.sleep(RETRY_SECONDS)
        try:
            ctx.host(host).run(virsh(ctx, "restore", device), timeout=TIMEOUT,
                               what="virsh restore %s (domain %s)" % (device, domain))
            return
        except HostError as exc:
            ctx.log.warning("restoring domain %s from %s failed (try %d of %d): %s",
                            domain, device, attempt + 1, RESTORE_TRIES, exc)
            failure = exc
    assert failure is not None
    raise failure


def find(ctx: Context, vm: Vm, system_ds: Datastore, snap_id: int, timestamp: int) -> Optional[str]:
    """The memory snapshot of a VM snapshot, None when it has none (then the domain stays off)."""
    if not vmsnap.system_on_storpool(system_ds):
        return None
    snapshot: str = ctx.names.vm_snapshot(ctx.names.vm_memory(vm.id), snap_id, timestamp)
    with ctx.step("look for the memory snapshot %s" % snapshot):
        found = ctx.sp.snapshot_or_none(snapshot)
    return snapshot if found is not None else None


def start_from(ctx: Context, host: str, domain: str, snapshot: str) -> None:
    """Restore the domain from a memory snapshot attached read-only, then detach it.

    The attachment is undone if the restore fails; the detach after a successful restore is
    tidying up (a failure is logged).
    """
    client = ctx.client_id(host)
    device = volumes.attach(ctx, snapshot, host, snapshot=True, client=client)
    with ctx.step("restore domain %s from %s on %s" % (domain, snapshot, host)):
        restore(ctx, host, domain, device)
    try:
        volumes.detach_all(ctx, snapshot, force=True, client=client, snapshot=True,
                           no_undo="the domain runs from its memory again; the snapshot is read only once")
    except OnespError as exc:
        ctx.log.warning("domain %s runs again, but %s stays attached to %s: %s", domain, snapshot, host, exc)

"""The guest's memory in VM snapshots (VMSNAPSHOT_WITH_CHECKPOINT in the VM's user template),
in the addon's form: the volume ``<px>-sys-<vm>`` joins the disks in the group snapshot.

For a running VM on a StorPool system datastore whose user template says
``VMSNAPSHOT_WITH_CHECKPOINT = YES`` (also 1, TRUE, ON):

* create: the volume is made (twice the VM's MEMORY, as for a save checkpoint; template
  ``<px>-ds-<system ds>``, tags of the VM's system volumes with type CHKPNT), attached to the
  host, and the domain is saved into its device (``virsh save``, which stops the domain), so
  the disks and the memory are taken at the same instant. The undo, registered before the
  save, asks libvirt for the domain's state: a domain the save stopped is restored from the
  volume (three tries) before the volume is deleted; the volume is kept while the domain
  cannot be restored from it or its state is unknown, since it may hold the only copy of the
  guest's memory. Once the group snapshot is taken the domain is restored the same way;
  deleting the volume afterwards is only tidying up (a failure is logged), its snapshot
  keeps the memory.
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

from ...runtime import attaching, volumes
from ...runtime.errors import BadInput, HostError, OnespError
from ...runtime.libvirt import domain_state, virsh
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
    """Save the running domain into the memory volume (which then joins the group snapshot).

    From the attach on, one undo (``unsave``) stands for the volume: it restores the domain
    from it when the save stopped the domain (also a save whose answer was lost), and deletes
    the volume only when the domain runs without it.
    """
    if not vm.memory or vm.memory <= 0:
        raise BadInput("VM %d has no MEMORY, so its memory volume cannot be sized" % vm.id)
    name = ctx.names.vm_memory(vm.id)
    first = len(ctx.undo_stack.entries)
    volumes.create(ctx, name, tags=ctx.tags.vm_disk(vm.id, disk_type="CHKPNT"), size_mb=2 * vm.memory,
                   template=ctx.names.template(system_ds.id))
    device = attaching.attach(ctx, name, host)
    for entry in ctx.undo_stack.entries[first:]:  # replaced by unsave, which never deletes the only copy of the memory
        ctx.undo_stack.discard(entry)
    undo = ctx.undo(unsave, ctx, host, domain, name, device, label="restore domain %s from %s" % (domain, name))
    with ctx.step("save the memory of domain %s into %s on %s" % (domain, name, host)):
        ctx.host(host).run(virsh(ctx, "save", domain, device), timeout=TIMEOUT,
                           what="virsh save %s %s" % (domain, device))
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


def unsave(ctx: Context, host: str, domain: str, name: str, device: str) -> None:
    """The undo of a save: restore the domain from the volume if the save stopped it, then delete the volume.

    The volume stays (attached) while it may hold the only copy of the guest's memory: when the
    domain's state cannot be learnt, or the restore fails.
    """
    state = domain_state(ctx, host, domain)
    if state is None:
        raise HostError(host, "virsh domstate %s" % domain, "the domain's state is unknown, so %s (which may hold "
                        "its memory) stays" % name)
    if state in ("absent", "shut off"):
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
    member = vmsnap.member_snapshot(ctx, vm, ctx.names.vm_memory(vm.id), snap_id, timestamp, "memory")
    return member[0] if member is not None else None


def start_from(ctx: Context, host: str, domain: str, snapshot: str) -> None:
    """Restore the domain from a memory snapshot attached read-only, then detach it.

    The attachment is undone if the restore fails; the detach after a successful restore is
    tidying up (a failure is logged).
    """
    client = ctx.client_id(host)
    device = attaching.attach(ctx, snapshot, host, snapshot=True, client=client)
    with ctx.step("restore domain %s from %s on %s" % (domain, snapshot, host)):
        restore(ctx, host, domain, device)
    try:
        attaching.detach_all(ctx, snapshot, force=True, client=client, snapshot=True,
                           no_undo="the domain runs from its memory again; the snapshot is read only once")
    except OnespError as exc:
        ctx.log.warning("domain %s runs again, but %s stays attached to %s: %s", domain, snapshot, host, exc)

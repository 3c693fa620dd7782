"""Memory checkpoints on StorPool (SP_CHECKPOINT / SP_CHECKPOINT_BD): the save and restore helpers.

OpenNebula's kvm ``save`` writes the domain's memory to ``<vm dir>/checkpoint`` on the host
(suspend, stop, cold migration), so a host needs local space for the VM's RAM. With the option
on, and the VM's system datastore on StorPool, the checkpoint goes into the volume
``<px>-sys-<vm>-rawcheckpoint`` instead, in the addon's block-device form:

* save: a checkpoint volume left from an earlier save is deleted (the VM is running, so it is
  stale), a new one is made (twice the VM's MEMORY, the addon's size: a save image holds the
  guest's RAM and device state; template ``<px>-ds-<system ds>``, tags of the VM's system
  volumes with type CHKPNT), attached to the host, ``<vm dir>/checkpoint`` is made a link to its
  device, and the stock ``save`` writes through it. Until the stock save has succeeded every
  step is undone (link, attachment, new volume); after it the volume holds the only copy of
  the guest's memory, so nothing deletes it: the volume is detached and the link removed, and
  a failure there is only logged.
* restore: when the VM has a checkpoint volume it is attached to the host, the link is made
  again (on whatever host the VM now is), and the stock ``restore`` reads through it (it also
  rewrites the image's domain XML in place, so the attachment is read-write). After a
  successful restore the volume is deleted at once (a memory image is not kept under
  DELAY_DELETE) and the link removed; a failed restore detaches it and keeps it for the retry.
  A VM without the volume is restored by the stock script as before.

A regular checkpoint file already in the VM directory is never overwritten: save keeps it
aside as the stock script does (``checkpoint.<epoch>``); restore with both a file and a
volume refuses, since it cannot tell which one is the VM's memory.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from ...runtime import attaching, volumes
from ...runtime.arguments import parse_id
from ...runtime.config import checkpoints_on_storpool
from ...runtime.errors import BadInput, OnespError
from ...runtime.hostexec import check_host, check_path
from . import _document as document
from . import _stock as stock
from . import _vmsnap as vmsnap
from ._args import domain_name

if TYPE_CHECKING:
    from ...one import Datastore, Vm
    from ...runtime.actioncontext import Context

_TRAILING = re.compile(r"[A-Za-z0-9_.:\-]{1,255}\Z")
#: The checkpoint file name OpenNebula gives the kvm save and restore.
FILE_NAME = "checkpoint"

#: "file" when a regular file (not a link) is at the path, else "none".
_WHAT_IS_THERE = 'if [ -f "$1" ] && [ ! -L "$1" ]; then echo file; else echo none; fi'
#: What the stock save does with an older checkpoint file: keep it aside under its epoch.
_KEEP_ASIDE = 'if [ -f "$1" ] && [ ! -L "$1" ]; then mv -f -- "$1" "$1.$(date +%s)"; fi'


@dataclass(frozen=True)
class CheckpointArgs:
    """save ``<domain> <file> <host> <vm id> <host>``; restore ``<file> <host> <domain> <vm id> <host>``."""

    action: str
    domain: str
    file: str
    host: str
    vm_id: int
    raw: Tuple[str, ...]


def parse_args(action: str, argv: Sequence[str]) -> CheckpointArgs:
    if len(argv) not in (4, 5):
        raise BadInput("%s takes 5 arguments (%s, VM id, host), got %d" % (
            action, "domain, checkpoint file, host" if action == "save" else "checkpoint file, host, domain", len(argv)))
    if action == "save":
        domain, path, host = argv[0], argv[1], argv[2]
    else:
        path, host, domain = argv[0], argv[1], argv[2]
    if len(argv) == 5 and not _TRAILING.match(argv[4]):  # the driver's host (the stock scripts call it DS_ID)
        raise BadInput("%s: invalid last argument %r" % (action, argv[4]))
    return CheckpointArgs(action, domain_name(domain), check_path(path), check_host(host),
                          parse_id(argv[3], "VM id"), tuple(argv))


def _applies(ctx: Context, args: CheckpointArgs, vm: Vm, system_ds: Datastore) -> bool:
    """Whether this checkpoint goes to StorPool; the file must be ``<ds location>/<system ds>/<vm>/checkpoint``
    (the host's datastore location may differ from the front-end's BASE_PATH)."""
    if not checkpoints_on_storpool(ctx.config.SP_CHECKPOINT, ctx.config.SP_CHECKPOINT_BD) \
            or not vmsnap.system_on_storpool(system_ds):
        return False
    tail = "/%d/%d/%s" % (system_ds.id, vm.id, FILE_NAME)
    if posixpath.normpath(args.file) != args.file or not args.file.endswith(tail):
        raise BadInput("%s: checkpoint file %s is not <datastores>%s" % (args.action, args.file, tail))
    return True


def save(ctx: Context) -> None:
    args = parse_args("save", ctx.argv)
    source = document.load(ctx, args.vm_id)
    vm, system_ds = source.vm, source.system_ds
    if not _applies(ctx, args, vm, system_ds):
        stock.run(ctx, args.host, "save", args.raw, source.document)
        return
    if not vm.memory or vm.memory <= 0:
        raise BadInput("VM %d has no MEMORY, so its checkpoint volume cannot be sized" % vm.id)
    name = ctx.names.checkpoint(vm.id)
    volumes.hold(ctx, name)
    with ctx.step("look for an earlier checkpoint volume %s" % name):
        stale = ctx.sp.volume_or_none(name) is not None
    if stale:
        ctx.log.warning("VM %d is running, so its checkpoint volume %s is stale: deleting it", vm.id, name)
        volumes.delete(ctx, name, delayed=False)
    node = ctx.host(args.host)
    with ctx.step("keep an older checkpoint file of VM %d aside on %s" % (vm.id, args.host)):
        node.run(["sh", "-c", _KEEP_ASIDE, "sh", args.file], what="keep %s aside" % args.file)
    size_mb = 2 * vm.memory
    volumes.create(ctx, name, tags=ctx.tags.vm_disk(vm.id, disk_type="CHKPNT"), size_mb=size_mb,
                   template=ctx.names.template(system_ds.id))
    attaching.link(ctx, args.host, name, args.file)
    stock.run(ctx, args.host, "save", args.raw, source.document)
    ctx.undo_stack.drop()  # the volume now holds the guest's memory: nothing may delete it
    ctx.log.info("VM %d: checkpoint saved in %s (%d MiB)", vm.id, name, size_mb)
    _finish(ctx, args, name, delete=False)


def restore(ctx: Context) -> None:
    args = parse_args("restore", ctx.argv)
    source = document.load(ctx, args.vm_id)
    vm, system_ds = source.vm, source.system_ds
    name: Optional[str] = None
    if _applies(ctx, args, vm, system_ds):
        name = ctx.names.checkpoint(vm.id)
        volumes.hold(ctx, name)
        with ctx.step("look for the checkpoint volume %s" % name):
            if ctx.sp.volume_or_none(name) is None:
                ctx.log.info("VM %d has no checkpoint volume: restoring from %s", vm.id, args.file)
                name = None
    if name is None:
        stock.run(ctx, args.host, "restore", args.raw, source.document)
        return
    node = ctx.host(args.host)
    with ctx.step("look at %s on %s" % (args.file, args.host)):
        there = node.run(["sh", "-c", _WHAT_IS_THERE, "sh", args.file], what="test %s" % args.file).strip()
    if there == "file":
        raise BadInput("VM %d has both a checkpoint file %s on %s and a checkpoint volume %s: remove the one that"
                       " is not its memory" % (vm.id, args.file, args.host, name))
    attaching.link(ctx, args.host, name, args.file)
    stock.run(ctx, args.host, "restore", args.raw, source.document)
    ctx.undo_stack.drop()  # the domain runs again: its checkpoint is spent
    _finish(ctx, args, name, delete=True)


def _finish(ctx: Context, args: CheckpointArgs, name: str, *, delete: bool) -> None:
    """After the stock script succeeded: detach (or delete) the volume, remove the link; failures only logged."""
    try:
        if delete:
            volumes.delete(ctx, name, delayed=False)
        else:
            attaching.detach(ctx, name, args.host)
        with ctx.step("remove the checkpoint link %s on %s" % (args.file, args.host)):
            ctx.host(args.host).remove(args.file)
    except OnespError as exc:
        ctx.log.warning("VM %d: the %s succeeded, but cleaning up after it did not: %s (tm delete removes %s)",
                        args.vm_id, args.action, exc, name)

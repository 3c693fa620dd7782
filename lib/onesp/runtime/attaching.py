"""Attaching StorPool volumes and snapshots to hosts' clients, and pointing host paths at
their devices: each step registers its inverse (or says why it has none, ``no_undo``), like
every step of ``volumes``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, Union

from .storpoolerrors import ApiBusy, ApiNotFound
from .volumes import without_undo

if TYPE_CHECKING:
    from .actioncontext import Context
    from .storpoolanswers import ClientId
    from .storpoolapi import StorPool


def attach(ctx: Context, name: str, host: str, *, readonly: bool = False, snapshot: bool = False,
           undo: bool = True, client: Optional[int] = None) -> str:
    """Attach to ``host``'s StorPool client (``client`` when already known); returns the device path there.

    The undo is registered before the call: an attach whose wait timed out (or whose answer
    was lost) is still recorded by StorPool, and detaching what is not attached is harmless.
    """
    if client is None:
        client = ctx.client_id(host)
    if undo:
        ctx.undo(_detach_quiet, ctx, name, client, snapshot, label="detach %s from %s" % (name, host))
    with ctx.step("attach %s to %s" % (name, host)):
        ctx.sp.attach(name, client, readonly=readonly or snapshot, snapshot=snapshot,
                      timeout=ctx.config.ATTACH_TIMEOUT)
    return ctx.device_path(name)


def detach(ctx: Context, name: str, host: Optional[str] = None, *, force: bool = True, snapshot: bool = False,
           reattach: Optional[str] = None) -> None:
    """Detach from ``host`` (or from every client); a missing volume or attachment is fine.

    ``reattach`` (``"rw"``/``"ro"``) registers an undo that attaches it to ``host`` again.
    """
    client: ClientId = ctx.client_id(host) if host else "all"
    with ctx.step("detach %s from %s" % (name, host or "all hosts")):
        try:
            ctx.sp.detach(name, client, force=force, snapshot=snapshot)
        except ApiNotFound:
            return
    if reattach and host:
        ctx.undo(ctx.sp.attach, name, client, readonly=reattach == "ro", snapshot=snapshot,
                 timeout=ctx.config.ATTACH_TIMEOUT, label="attach %s to %s again" % (name, host))


def link(ctx: Context, host: str, name: str, path: str, *, readonly: bool = False, monitor_marker: Optional[str] = None,
         attach_undo: bool = True) -> None:
    """Attach ``name`` to ``host`` and point ``path`` there at its device (both undone on failure)."""
    device = attach(ctx, name, host, readonly=readonly, undo=attach_undo)
    link_path(ctx, host, device, path, monitor_marker)


def link_path(ctx: Context, host: str, device: str, path: str, monitor_marker: Optional[str] = None) -> None:
    """Point ``path`` on ``host`` at ``device`` (atomically); undo puts back what was there.

    The undo is registered before the command: if its answer never arrives (SIGTERM meanwhile)
    it removes the link only when it points at ``device``, i.e. when the command did run.
    """
    node = ctx.host(host)
    seen: Dict[str, Optional[str]] = {}

    def put_back() -> None:
        if "previous" not in seen:
            if node.readlink(path) == device:
                node.unlink_disk(path)
        elif seen["previous"] is None:
            node.unlink_disk(path)
        elif seen["previous"] != device:
            node.symlink(seen["previous"] or "", path)

    entry = ctx.undo(put_back, label="put back %s on %s" % (path, host))
    with ctx.step("link %s on %s" % (path, host)):
        seen["previous"] = node.symlink(device, path, monitor_marker)
    if seen["previous"] == device:
        ctx.undo_stack.discard(entry)  # it pointed there already: nothing to undo


def _detach_quiet(ctx: Context, name: str, client: int, snapshot: bool) -> None:
    try:
        ctx.sp.detach(name, client, force=True, snapshot=snapshot)
    except ApiNotFound:
        pass


def reattach_on_failure(ctx: Context, name: str, client: int, *, readonly: bool, host: str) -> None:
    """Register, before a detach is sent, the undo that attaches ``name`` to ``client`` again: a
    detach that took effect but whose answer was lost is undone too; attaching what is attached is harmless."""
    ctx.undo(ctx.sp.attach, name, client, readonly=readonly, timeout=ctx.config.ATTACH_TIMEOUT,
             label="attach %s to %s again" % (name, host))


def detach_all(ctx: Context, name: str, *, force: bool, client: Union[ClientId, str] = "all", snapshot: bool = False,
               no_undo: str) -> None:
    """Detach ``name`` from ``client`` (every client by default); ``ApiNotFound``/``ApiBusy`` reach the
    caller. No inverse of its own: ``no_undo`` (e.g. the caller registered one first)."""
    without_undo(ctx, "detaching %s" % name, no_undo)
    ctx.sp.detach(name, client, force=force, snapshot=snapshot)


def attach_to(ctx: Context, name: str, client: int, *, readonly: bool, snapshot: bool = False) -> None:
    """Attach ``name`` to ``client`` (waiting up to ATTACH_TIMEOUT): the inverse of a detach, run as an undo."""
    ctx.sp.attach(name, client, readonly=readonly, snapshot=snapshot, timeout=ctx.config.ATTACH_TIMEOUT)


def reassign(ctx: Context, items: Sequence[Mapping[str, Any]], *, attach_timeout: Optional[int] = None, no_undo: str) -> None:
    """One VolumesReassignWait of ``items`` (attach, detach), no inverse of its own: ``no_undo``
    (the caller registered the inverse of a whole group first, ``undo_reassign``, or none applies)."""
    without_undo(ctx, "the reassign of %s" % ", ".join(str(i.get("volume") or i.get("snapshot")) for i in items), no_undo)
    ctx.sp.reassign(items, attach_timeout=attach_timeout)


def undo_reassign(ctx: Context, inverse: Sequence[Mapping[str, Any]], timeout: int, label: str) -> None:
    """Register, before a reassign is sent, the reassign ``inverse`` that puts attachments back
    (``reassign_quietly``), through the client of the current endpoint (a VM's volumes may be
    on several: the undo runs after the action has left that datastore's configuration)."""
    ctx.undo(reassign_quietly, ctx.sp, inverse, timeout, label=label)


def reassign_quietly(sp: StorPool, items: Sequence[Mapping[str, Any]], timeout: int) -> None:
    """Undo of a reassign. If the whole call is refused, item by item: a volume that vanished
    meanwhile, or a shared image another VM holds open, is left as it is."""

    def attaches(item: Mapping[str, Any]) -> bool:
        return "rw" in item or "ro" in item

    try:
        sp.reassign(items, attach_timeout=timeout if any(attaches(i) for i in items) else None)
        return
    except (ApiNotFound, ApiBusy):
        pass
    for item in items:
        try:
            sp.reassign([item], attach_timeout=timeout if attaches(item) else None)
        except ApiNotFound:
            continue
        except ApiBusy:
            if item.get("force", True):
                raise

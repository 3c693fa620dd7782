"""StorPool steps shared by the actions, each registering its own undo.

Every function here is one step of the driver's vocabulary: create (or adopt what an
earlier run of the same action created), grow, attach, detach, tag, delete, link on a
host. A step that changes something registers its inverse with ``ctx.undo`` right after
it succeeds, so an action written as a sequence of these steps rolls back completely.

Existence is learnt from the answer of the call itself (``objectExists``,
``objectDoesNotExist``) or from one single-object read, never by listing the cluster.

Two runs of one action may overlap (oned's run and an operator's re-run, or oned's retry of
a run it gave up on). Every step that makes a named object first ``hold``s that name: a
front-end lock kept until the run has ended, undo included. So from the check "does it
exist?" to the end of the run no other run makes, adopts or removes that object, and an
undo registered before a create (a lost answer) can only ever find what its own run made.
An object adopted from an earlier run gets no undo at all: its creator has finished and
may have printed it to oned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, Mapping, Optional

from .config import remote_backup as remote_backup_target
from .errors import AlreadyExists
from .storpool import ApiExists, ApiNotFound

if TYPE_CHECKING:
    from .context import Context, UndoEntry
    from .limits import DiskLimits, LimitArgs
    from .storpool import ClientId

MIB = 1024 * 1024


def create(
    ctx: Context,
    name: str,
    *,
    tags: Mapping[str, str],
    size_mb: Optional[int] = None,
    size_bytes: Optional[int] = None,
    template: Optional[str] = None,
    parent: Optional[str] = None,
    base_on: Optional[str] = None,
    owner: Optional[Mapping[str, str]] = None,
    limits: Optional[DiskLimits] = None,
) -> bool:
    """Create volume ``name`` in one call carrying size, template, parent, tags and the disk's
    StorPool limits (``limits.DiskLimits``, when its datastore opts in) (``name`` held first).

    If it already exists and its tags include ``owner`` (an earlier run of this action made
    it), it is adopted and False is returned; any other existing volume is an error, never
    overwritten. A created volume is deleted at once if the action fails later — also one
    whose creation answer was lost (see ``undo_new_volume``).
    """
    size = size_bytes if size_bytes is not None else (size_mb * MIB if size_mb is not None else None)
    hold(ctx, name)
    with ctx.step("create volume %s" % name):
        entry = undo_new_volume(ctx, name, tags)
        try:
            ctx.sp.volume_create(name, size=size, template=template, parent=parent, base_on=base_on, tags=tags,
                                 **_limit_args(limits))
        except ApiExists:
            ctx.undo_stack.discard(entry)
            existing = ctx.sp.volume_or_none(name)
            expected = dict(owner or {})
            if existing is not None and expected and all(existing.get("tags", {}).get(k) == v for k, v in expected.items()):
                ctx.log.info("volume %s exists from an earlier run, adopting it", name)
                return False
            raise AlreadyExists("volume %s exists and does not belong to this %s" % (
                name, "disk" if expected else "request")) from None
    return True


def _limit_args(limits: Optional[DiskLimits]) -> LimitArgs:
    """The limit arguments of a volume's create or update: none when the datastore does not opt in."""
    return limits.kwargs() if limits is not None else {}


def hold(ctx: Context, name: str) -> None:
    """Hold the front-end lock of the volume or snapshot ``name`` until this run has ended.

    Take it before looking whether ``name`` exists: a second run of the same action waits
    here until the first has finished (or rolled back), then finds its result and adopts it
    (or finds nothing and starts afresh). It is the one lock of ``Context.lock`` (flock in
    LOCK_DIR), re-entrant within a run; names are StorPool names, safe as file names.
    """
    ctx.lock("volume-%s" % name)


def undo_new_volume(ctx: Context, name: str, tags: Optional[Mapping[str, str]] = None) -> UndoEntry:
    """Register, *before* the call that creates (or renames to) ``name``, its removal on failure.

    An answer can be lost after StorPool acted (timeout, reset): an undo registered only after
    the answer would leave such a volume behind. The inverse removes ``name`` only if it
    exists and carries ``tags`` (default: this instance's), so it never touches a volume
    someone else made; and ``name`` is held (``hold``), so no other run of this front-end can
    have made it meanwhile. Returns the undo handle.
    """
    hold(ctx, name)
    expected = {k: v for k, v in (tags or ctx.tags.instance()).items() if v}
    return ctx.undo(_delete_if_ours, ctx, name, expected, label="delete volume %s" % name)


def _delete_if_ours(ctx: Context, name: str, expected: Mapping[str, str]) -> None:
    found = ctx.sp.volume_or_none(name)
    if found is not None and all((found.get("tags") or {}).get(k) == v for k, v in expected.items()):
        delete_now(ctx, name)


def grow(ctx: Context, name: str, size_mb: int, current_bytes: Optional[int] = None, limits: Optional[DiskLimits] = None) -> None:
    """Grow ``name`` to ``size_mb`` (never shrink); undo shrinks it back to the size it had.

    ``limits`` (the disk's StorPool limits) go in the same VolumeUpdate as the size, as
    StorPool's CloudStack plugin sends a volume's IOPS with every resize.
    """
    with ctx.step("resize volume %s to %d MB" % (name, size_mb)):
        if current_bytes is None:
            current_bytes = int(ctx.sp.volume(name)["size"])
        wanted = size_mb * MIB
        if wanted <= current_bytes:
            return
        ctx.sp.volume_update(name, size=wanted, **_limit_args(limits))
    ctx.undo(ctx.sp.volume_update, name, size=current_bytes, shrink_ok=True, label="shrink %s back" % name)


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


def retag(ctx: Context, name: str, tags: Mapping[str, str], previous: Optional[Mapping[str, str]] = None,
          limits: Optional[DiskLimits] = None, previous_limits: Optional[LimitArgs] = None) -> None:
    """Set (or clear, with empty values) tags; undo restores the ``previous`` values of those keys.

    ``limits`` (``limits.DiskLimits``) go in the same VolumeUpdate; with ``previous_limits``
    (``limits.current`` of the volume before) the undo puts those back too.
    The undo is registered before the call: restoring tags is harmless if the update never
    happened, and it covers an update that took effect although its answer was lost.
    """
    if previous is not None:
        restore = {k: previous.get(k, "") for k in tags}
        ctx.undo(ctx.sp.volume_update, name, tags=restore, label="restore tags of %s" % name,
                 **(dict(previous_limits) if limits is not None and previous_limits is not None else {}))
    with ctx.step("tag volume %s" % name):
        ctx.sp.volume_update(name, tags=tags, **_limit_args(limits))


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


def delete_now(ctx: Context, name: str) -> None:
    """Detach everywhere and delete at once (undo of a create; staging volumes)."""
    try:
        ctx.sp.detach(name, "all", force=True)
        ctx.sp.volume_delete(name)
    except ApiNotFound:
        pass


def delete(ctx: Context, name: str, *, tags: Optional[Mapping[str, str]] = None, delayed: bool = True,
           remote_backup: Optional[str] = None) -> bool:
    """Remove a volume the way the addon does; returns False when it was already gone.

    Detach from every client (forced), optionally back it up to a remote location
    (REMOTE_BACKUP_DELETE, ``<location>[:tag <name>=<value> ...]``, those tags added to the
    backup's), then, with DELAY_DELETE set, keep its data as an anonymous snapshot that
    StorPool deletes after that delay, and delete the volume. This is the last step of an
    action: it has no undo.
    """
    delay = ctx.config.DELAY_DELETE if delayed else 0
    backup = None
    if remote_backup:
        backup = remote_backup_target(remote_backup, ctx.config.origin("REMOTE_BACKUP_DELETE"))
    with ctx.step("delete volume %s" % name):
        try:
            ctx.sp.detach(name, "all", force=True)
        except ApiNotFound:
            ctx.log.info("volume %s is already gone", name)
            return False
        if backup is not None:  # a missing location is an error, never "already gone"
            location, extra = backup
            ctx.sp.volume_backup(name, location, tags=dict(tags or {}, **extra))
        try:
            if delay > 0:
                ctx.sp.volume_snapshot(name, tags=dict(tags or {}), delete_after=delay)
            ctx.sp.volume_delete(name)
        except ApiNotFound:
            if ctx.sp.volume_or_none(name) is not None:
                raise
            ctx.log.info("volume %s was deleted meanwhile (a concurrent delete of the same disk)", name)
            return False
    return True


def delete_snapshots(ctx: Context, names: Iterable[str]) -> int:
    """Delete exactly these snapshots (detached first); missing ones are fine. Returns how many existed."""
    removed = 0
    for name in names:
        with ctx.step("delete snapshot %s" % name):
            try:
                ctx.sp.detach(name, "all", force=True, snapshot=True)
                ctx.sp.snapshot_delete(name)
                removed += 1
            except ApiNotFound:
                continue
    return removed


def _detach_quiet(ctx: Context, name: str, client: int, snapshot: bool) -> None:
    try:
        ctx.sp.detach(name, client, force=True, snapshot=snapshot)
    except ApiNotFound:
        pass

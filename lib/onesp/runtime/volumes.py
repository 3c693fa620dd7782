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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, Mapping, Optional, Sequence, Tuple, Union

from .config import remote_backup as remote_backup_target
from .errors import AlreadyExists
from .storpoolapi import ApiExists, ApiNotFound

if TYPE_CHECKING:
    from .actioncontext import Context, UndoEntry
    from .limits import DiskLimits, LimitArgs
    from .storpoolapi import ClientId, StorPool

MIB = 1024 * 1024


@dataclass(frozen=True)
class PointOfNoReturn:
    """Where an action stops rolling back: the first StorPool call among ``calls`` that succeeds.

    Before it, a failure leaves the state the action started from (its undo stack); from it on,
    what is done cannot be taken back (data deleted or replaced), and a failure is completed by a
    re-run instead, which oned does with a failed action. Each mutating action module names its
    point as ``POINT_OF_NO_RETURN``; the fault matrix (tests/reliability) reads it from there.
    """

    step: str
    calls: FrozenSet[str]


#: Most actions: only a deletion (of a volume or a snapshot) cannot be undone.
FIRST_DELETION = PointOfNoReturn("the first deletion", frozenset({"VolumeDelete", "SnapshotDelete"}))
#: A delete action: deleting a volume (``delete``: forced detach, DELAY_DELETE copy, delete) is one
#: step without undo, so its first call is the point.
DELETE_VOLUME = PointOfNoReturn("deleting the volume", FIRST_DELETION.calls | {"VolumesReassignWait", "VolumeSnapshot"})
#: A revert in place replaces the volume's data: only a copy taken first could undo it.
REVERT = PointOfNoReturn("the revert in place", FIRST_DELETION.calls | {"VolumeRevert"})
#: Releasing closed attachments left on hosts a VM has left (one reassign): which existed is unknown
#: without a cluster-wide listing, so nothing could attach them again; a re-run reaches the same state.
RELEASE = PointOfNoReturn("releasing closed attachments", FIRST_DELETION.calls | {"VolumesReassignWait"})


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
        except ApiExists as exc:
            ctx.undo_stack.discard(entry)
            existing = ctx.sp.volume_or_none(name)
            expected = dict(owner or {})
            if existing is not None and expected and all(existing.get("tags", {}).get(k) == v for k, v in expected.items()):
                ctx.log.info("volume %s exists from an earlier run, adopting it", name)
                return False
            raise AlreadyExists("volume %s exists and does not belong to this %s" % (
                name, "disk" if expected else "request")) from exc
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


# -- steps whose inverse is special, or that have none -------------------------------------------
# Every mutating StorPool call of an action goes through a function of this module (a test holds
# the actions to it): each either registers its inverse here, or says why it has none (``no_undo``:
# a reason the caller gives, logged, so a step without undo is always a decision in writing).


def _no_undo(ctx: Context, what: str, why: str) -> None:
    if not why:
        raise ValueError("a step without undo must say why")
    ctx.log.debug("no undo for %s: %s", what, why)


def rename(ctx: Context, name: str, target: str) -> None:
    """Rename ``name`` to ``target`` (a staging volume made final); undo removes ``target`` if it
    is this instance's (``undo_new_volume``, registered first: the answer may be lost)."""
    undo_new_volume(ctx, target)
    with ctx.step("rename volume %s to %s" % (name, target)):
        ctx.sp.volume_update(name, rename=target)


def rename_released(ctx: Context, name: str, target: str, tags: Mapping[str, str], info: Mapping[str, Any],
                    template: Optional[str], policy: Mapping[str, Any], previous_policy: Mapping[str, Any]) -> None:
    """Rename ``name`` to ``target`` with new ``tags`` (and ``template``, ``policy``) in one call.

    The undo is registered first, so a rename whose answer was lost is reverted as well; it
    renames back with the tags, template and policy of ``info`` (the volume before), and does
    nothing when no volume has the new name, or when the old one still exists.
    """
    previous = {k: (info.get("tags") or {}).get(k, "") for k in tags}
    ctx.undo(_rename_back, ctx, target, name, previous, info.get("templateName") if template else None,
             dict(previous_policy), label="rename %s back to %s" % (target, name))
    with ctx.step("rename volume %s to %s" % (name, target)):
        ctx.sp.volume_update(name, rename=target, tags=tags, template=template, **policy)


def _rename_back(ctx: Context, target: str, name: str, tags: Dict[str, str], template: Optional[str],
                 policy: Dict[str, Any]) -> None:
    try:
        ctx.sp.volume_update(target, rename=name, tags=tags, template=template, **policy)
    except (ApiNotFound, ApiExists):
        pass


def create_or_skip(ctx: Context, name: str, *, base_on: Optional[str], tags: Mapping[str, str]) -> bool:
    """Create ``name`` from ``base_on``; False when it exists (made meanwhile by a concurrent run:
    not this run's, so no undo). Undo deletes a created one through the client of the endpoint
    that made it (the action may have left that datastore's configuration when undo runs)."""
    sp = ctx.sp
    try:
        sp.volume_create(name, base_on=base_on, tags=tags)
    except ApiExists:
        return False
    ctx.undo(_delete_through, sp, name, label="delete volume %s" % name)
    return True


def _delete_through(sp: StorPool, name: str) -> None:
    try:
        sp.detach(name, "all", force=True)
        sp.volume_delete(name)
    except ApiNotFound:
        pass


def create_new(ctx: Context, name: str, **create: Any) -> None:
    """VolumeCreate of ``name`` (held), its removal registered first (``undo_new_volume``).

    ``ApiExists`` is raised to the caller with that undo withdrawn: what exists was not made by
    this call, and what to do with it (adopt, fit, replace) is the caller's decision.
    """
    entry = undo_new_volume(ctx, name, create.get("tags"))
    try:
        ctx.sp.volume_create(name, **create)
    except ApiExists:
        ctx.undo_stack.discard(entry)
        raise


def resize(ctx: Context, name: str, size: int, *, shrink_ok: bool = False, tags: Optional[Mapping[str, str]] = None,
           no_undo: str) -> None:
    """Set the size of ``name`` to ``size`` bytes (and ``tags``), with no inverse of its own: ``no_undo``."""
    _no_undo(ctx, "resizing %s" % name, no_undo)
    ctx.sp.volume_update(name, size=size, shrink_ok=shrink_ok or None, tags=tags)


def snapshot(ctx: Context, volume: str, name: str, *, tags: Optional[Mapping[str, str]] = None,
             delete_after: Optional[int] = None) -> None:
    """Snapshot ``volume`` as ``name``; undo deletes the snapshot (registered first, so one made by
    a call whose answer was lost goes too). An existing ``name`` raises ``ApiExists``, the undo withdrawn."""
    entry = ctx.undo(delete_snapshots, ctx, [name], label="delete snapshot %s" % name)
    try:
        ctx.sp.volume_snapshot(volume, name, tags=tags, delete_after=delete_after)
    except ApiExists:
        ctx.undo_stack.discard(entry)
        raise


def take_snapshot(ctx: Context, volume: str, name: str, *, no_undo: str) -> None:
    """Snapshot ``volume`` as ``name``, no inverse of its own: ``no_undo``."""
    _no_undo(ctx, "snapshot %s" % name, no_undo)
    ctx.sp.volume_snapshot(volume, name)


def snapshot_once(ctx: Context, volume: str, name: str, made: Dict[str, bool]) -> None:
    """Snapshot ``volume`` as ``name`` with an undo that deletes it only while ``made["made"]``:
    the caller sets it to False when ``ApiExists`` shows an earlier run made it (adopted, kept)."""
    ctx.undo(_delete_made, ctx, name, made, label="delete snapshot %s" % name)
    ctx.sp.volume_snapshot(volume, name)


def _delete_made(ctx: Context, name: str, made: Dict[str, bool]) -> None:
    if made["made"]:
        delete_snapshots(ctx, [name])


def replace_snapshot(ctx: Context, volume: str, name: str, *, tags: Mapping[str, str], delete_after: int) -> None:
    """Snapshot ``volume`` as ``name``; one left by an interrupted earlier run of the same action is
    deleted and taken again (its data is older). No undo of its own: the caller registers the
    removal of all such snapshots first (they also expire by themselves, ``delete_after``)."""
    try:
        ctx.sp.volume_snapshot(volume, name, tags=tags, delete_after=delete_after)
    except ApiExists:
        ctx.sp.snapshot_delete(name)
        ctx.sp.volume_snapshot(volume, name, tags=tags, delete_after=delete_after)


def group_snapshot(ctx: Context, pairs: Sequence[Tuple[str, str]], tags: Mapping[str, str], *, no_undo: str) -> None:
    """One atomic snapshot of several volumes (``(volume, snapshot)`` pairs), no inverse of its own: ``no_undo``."""
    _no_undo(ctx, "the group snapshot", no_undo)
    ctx.sp.group_snapshot(pairs, tags)


def revert(ctx: Context, name: str, snapshot: str) -> None:
    """VolumeRevert in place: name, globalId, tags and template stay; data and size become the snapshot's.

    No undo: the volume's data is replaced, which is what was asked for; it is the point of no
    return ``REVERT`` of the actions that do it (unless they kept a copy to put back, ``put_back``).
    """
    ctx.sp.volume_revert(name, snapshot)


def put_back(ctx: Context, volume: str, kept: str) -> None:
    """Revert ``volume`` to the snapshot ``kept`` of its data taken before (detached first): the
    inverse of a revert that kept a copy."""
    ctx.sp.detach(volume, "all", force=True)
    ctx.sp.volume_revert(volume, kept)


def roll_back_to(ctx: Context, name: str, safety: str, client: int, readonly: bool) -> None:
    """Undo of data written into ``name``: back to the snapshot ``safety`` taken before, in place,
    attached to ``client`` as before, the snapshot deleted. Nothing if it was never made."""
    try:
        ctx.sp.snapshot(safety)
    except ApiNotFound:
        return  # the snapshot was never made: the volume was not touched
    ctx.sp.detach(name, client, force=True)
    ctx.sp.volume_revert(name, safety)
    ctx.sp.attach(name, client, readonly=readonly, timeout=ctx.config.ATTACH_TIMEOUT)
    ctx.sp.snapshot_delete(safety)


def expire_snapshot(ctx: Context, name: str, delay: int, *, no_undo: str) -> None:
    """Let StorPool delete snapshot ``name`` after ``delay`` seconds (at once when 0): ``no_undo``."""
    _no_undo(ctx, "expiring snapshot %s" % name, no_undo)
    if delay > 0:
        ctx.sp.snapshot_update(name, delete_after=delay)
    else:
        ctx.sp.snapshot_delete(name)


def drop_snapshot(ctx: Context, name: str, *, no_undo: str) -> None:
    """Delete snapshot ``name`` (never attached) at once; a missing one raises ``ApiNotFound``: ``no_undo``."""
    _no_undo(ctx, "deleting snapshot %s" % name, no_undo)
    ctx.sp.snapshot_delete(name)


def reattach_on_failure(ctx: Context, name: str, client: int, *, readonly: bool, host: str) -> None:
    """Register, before a detach is sent, the undo that attaches ``name`` to ``client`` again: a
    detach that took effect but whose answer was lost is undone too; attaching what is attached is harmless."""
    ctx.undo(ctx.sp.attach, name, client, readonly=readonly, timeout=ctx.config.ATTACH_TIMEOUT,
             label="attach %s to %s again" % (name, host))


def detach_all(ctx: Context, name: str, *, force: bool, client: Union[ClientId, str] = "all", snapshot: bool = False,
               no_undo: str) -> None:
    """Detach ``name`` from ``client`` (every client by default); ``ApiNotFound``/``ApiBusy`` reach the
    caller. No inverse of its own: ``no_undo`` (e.g. the caller registered one first)."""
    _no_undo(ctx, "detaching %s" % name, no_undo)
    ctx.sp.detach(name, client, force=force, snapshot=snapshot)


def attach_to(ctx: Context, name: str, client: int, *, readonly: bool, snapshot: bool = False) -> None:
    """Attach ``name`` to ``client`` (waiting up to ATTACH_TIMEOUT): the inverse of a detach, run as an undo."""
    ctx.sp.attach(name, client, readonly=readonly, snapshot=snapshot, timeout=ctx.config.ATTACH_TIMEOUT)


def reassign(ctx: Context, items: Sequence[Mapping[str, Any]], *, attach_timeout: Optional[int] = None, no_undo: str) -> None:
    """One VolumesReassignWait of ``items`` (attach, detach), no inverse of its own: ``no_undo``
    (the caller registered the inverse of a whole group first, ``undo_reassign``, or none applies)."""
    _no_undo(ctx, "the reassign of %s" % ", ".join(str(i.get("volume") or i.get("snapshot")) for i in items), no_undo)
    ctx.sp.reassign(items, attach_timeout=attach_timeout)


def undo_reassign(ctx: Context, inverse: Sequence[Mapping[str, Any]], timeout: int, label: str) -> None:
    """Register, before a reassign is sent, the reassign ``inverse`` that puts attachments back
    (``reassign_quietly``), through the client of the current endpoint (a VM's volumes may be
    on several: the undo runs after the action has left that datastore's configuration)."""
    ctx.undo(reassign_quietly, ctx.sp, inverse, timeout, label=label)


def reassign_quietly(sp: StorPool, items: Sequence[Mapping[str, Any]], timeout: int) -> None:
    """Undo of a reassign. If the whole call is refused, item by item: a volume that vanished
    meanwhile, or a shared image another VM holds open, is left as it is."""
    from .storpoolapi import ApiBusy

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

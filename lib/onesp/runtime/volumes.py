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
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Mapping, Optional

from .config import remote_backup as remote_backup_target
from .errors import AlreadyExists
from .storpoolerrors import ApiExists, ApiNotFound

if TYPE_CHECKING:
    from .actioncontext import Context, UndoEntry
    from .limits import DiskLimits, LimitArgs
    from .storpoolapi import StorPool

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


# -- steps whose inverse is special, or that have none -------------------------------------------
# Every mutating StorPool call of an action goes through a function of this module (a test holds
# the actions to it): each either registers its inverse here, or says why it has none (``no_undo``:
# a reason the caller gives, logged, so a step without undo is always a decision in writing).


def without_undo(ctx: Context, what: str, why: str) -> None:
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
    without_undo(ctx, "resizing %s" % name, no_undo)
    ctx.sp.volume_update(name, size=size, shrink_ok=shrink_ok or None, tags=tags)



"""Snapshots of StorPool volumes as the actions take, revert and remove them: each step
registers its inverse (or says why it has none, ``no_undo``), like every step of ``volumes``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from .storpoolerrors import ApiExists, ApiNotFound
from .volumes import without_undo

if TYPE_CHECKING:
    from .actioncontext import Context


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
    without_undo(ctx, "snapshot %s" % name, no_undo)
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
    without_undo(ctx, "the group snapshot", no_undo)
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
    without_undo(ctx, "expiring snapshot %s" % name, no_undo)
    if delay > 0:
        ctx.sp.snapshot_update(name, delete_after=delay)
    else:
        ctx.sp.snapshot_delete(name)


def drop_snapshot(ctx: Context, name: str, *, no_undo: str) -> None:
    """Delete snapshot ``name`` (never attached) at once; a missing one raises ``ApiNotFound``: ``no_undo``."""
    without_undo(ctx, "deleting snapshot %s" % name, no_undo)
    ctx.sp.snapshot_delete(name)

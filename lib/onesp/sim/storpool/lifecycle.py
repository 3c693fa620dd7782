"""Snapshot creation and the end of a snapshot's life: delete, pending delete, collection.

Emulator choices (reference 4.3/4.4, marked [I] there):

* A snapshot with children that is deleted stays as a *pending delete*: listed as
  ``*<name>`` with ``deleted: true``, its name immediately free. After ``gc_delay`` seconds
  of the emulator clock (default 0, i.e. within the same call) its children are
  re-parented to its own parent and it disappears. Because every object's backing file
  holds its full logical content, no data has to move: children already read the same bytes.
* ``baseOn`` creates a visible *transient* snapshot that goes away the same way.
* Bound snapshots vanish as soon as they have no children and no attachments.
* ``targetDeleteDate`` expiry is checked lazily at the start of every call (and after
  every mutation); a due snapshot is deleted exactly as ``SnapshotDelete`` would. An
  attached snapshot is never collected: it waits until it is detached.
"""

from __future__ import annotations

from typing import Dict, Optional

from . import apierror
from .model import SpObject
from .state import State


def take_snapshot(
    state: State,
    vol: SpObject,
    name: Optional[str],
    *,
    auto: bool,
    tags: Optional[Dict[str, str]] = None,
    bind: bool = False,
    delete_date: int = 0,
    transient: bool = False,
) -> SpObject:
    """Snapshot ``vol``: the snapshot takes the volume's place in the chain and becomes its parent.

    ``auto`` names it ``<volume>@<visibleVolumeId>``; ``name=None`` without ``auto`` makes an
    unnamed snapshot listed as ``~<globalId>``. Volume tags are not copied (StorPool's rule).
    """
    vid, gid = state.new_ids()
    if auto:
        name = "%s@%d" % (vol.name if vol.name is not None else vol.gid, vid)
    snap = SpObject(gid, vid, "snapshot", name, vol.size, state.now())
    snap.template = vol.template
    snap.apply_policy(vol.policy())
    snap.tags = dict(tags or {})
    snap.origin = vol.gid
    snap.auto_name = auto
    snap.bound = bind
    snap.delete_date = delete_date
    snap.transient = transient
    snap.parent = vol.parent
    state.files.copy(vol.gid, gid, vol.size, readonly=True)
    state.add(snap)
    state.set_parent(vol, gid)
    return snap


def delete_snapshot(state: State, snap: SpObject) -> None:
    """``SnapshotDelete``: gone at once when childless, else pending delete."""
    if state.is_attached(snap):
        clients = ", ".join(str(c) for c in sorted(state.attachments[snap.gid]))
        raise apierror.busy("snapshot %s is attached to client(s) %s" % (snap.display_name, clients))
    if state.children.get(snap.gid):
        state.mark_deleted(snap)
    else:
        state.remove(snap)


def _dematerialize(state: State, snap: SpObject) -> None:
    for child_gid in sorted(state.children.get(snap.gid, ())):
        state.set_parent(state.objects[child_gid], snap.parent)
    state.remove(snap)


def collect(state: State) -> bool:
    """Apply due expiries and garbage-collect snapshots; True when anything was removed."""
    now = state.now()
    delay = state.options.gc_delay
    changed = False
    progress = True
    while progress:
        progress = False
        for gid in sorted(state.special):
            obj = state.objects.get(gid)
            if obj is None:
                state.special.discard(gid)
                continue
            if state.is_attached(obj):
                continue
            has_children = bool(state.children.get(gid))
            if obj.delete_date and obj.delete_date <= now and not obj.deleted:
                obj.delete_date = 0
                state.touch(obj)
                delete_snapshot(state, obj)
            elif obj.deleted_at is not None and (not has_children or now >= obj.deleted_at + delay):
                _dematerialize(state, obj)
            elif obj.transient and now >= obj.created + delay:
                _dematerialize(state, obj)
            elif obj.bound and not has_children:
                state.remove(obj)
            else:
                continue
            progress = changed = True
    return changed

"""Space accounting (an emulator model, reference 4.8 and 3.5), kept up to date as objects change.

The bytes of an object are the allocated blocks of its backing file (``st_blocks``),
capped at its size; an object without a file holds nothing. Because each file holds the
object's full logical content:

* ``spaceUsed`` of a volume (data visible through it, parents included) is exact: its
  file's allocated bytes;
* ``storedSize`` (data written in the object itself) is approximated as its allocated
  bytes minus its parent's, never below zero;
* a snapshot's ``spaceUsed`` (what deleting it would free) is its ``storedSize`` when it
  has no children, else 0.

Placement-group capacity is synthetic: ``disks x disk_capacity`` raw bytes. An object
charges ``storedSize x copies`` to its groups: one copy on ``placeTail``, one on
``placeHead`` from replication 3 up, the rest on ``placeAll``.

Like StorPool, the emulator does not walk the cluster to answer VolumeTemplatesStatus: the
``Ledger`` keeps each object's share of the per-template and per-group totals and, when
an object changes, swaps its old share for the new one. The state marks what changed
(``changed``: the record, hence its file and its children's stored bytes; ``mark``: only
what the record counts, e.g. gaining a child); the kernel reports data written through
the devices (``writes.WriteWatch``). The marks are settled when an answer needs the
figures, so each answer costs what changed since the previous one, whatever the
cluster's size. VolumesSpace and SnapshotsSpace list every object by nature; they read
each object's figures from the ledger and its cached summary, so what is left is the
serialisation.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, NamedTuple, Optional, Set, Tuple

from .model import SpObject
from .writes import WriteWatch

if TYPE_CHECKING:  # the state imports this module
    from .state import State

#: Positions in a template's counters (the VolumeTemplatesStatus fields they feed).
VOLUMES, SNAPSHOTS, REMOVING, SIZE, TOTAL_SIZE, STORED, ON_DISK, SNAP_LEAF_SIZE, SNAP_INNER_SIZE = range(9)
_ZERO = (0,) * 9


class Share(NamedTuple):
    """What one object adds to the totals, remembered so it can be taken back out."""

    template: str
    counters: Tuple[int, ...]
    raw: Tuple[Tuple[str, int], ...]  # (placement group, stored bytes x copies there)
    groups: Tuple[str, ...]  # distinct placement groups the object's stored bytes count in
    stored: int
    visible: int


def copies(obj: SpObject) -> Dict[str, int]:
    """How many of the object's replicas each of its placement groups holds."""
    out: Dict[str, int] = {}
    head = 1 if obj.replication >= 3 else 0
    for pg, n in ((obj.place_tail, 1), (obj.place_head, head), (obj.place_all, obj.replication - 1 - head)):
        if n:
            out[pg] = out.get(pg, 0) + n
    return out


def allocated(path: str) -> int:
    """Allocated bytes of a file (0 when it does not exist)."""
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


class Ledger:
    """Per-object shares and their sums per template and placement group."""

    def __init__(self, state: "State", watch: WriteWatch) -> None:
        self.state = state
        self.watch = watch
        self.alloc: Dict[str, int] = {}  # allocated bytes of each backing file that has any
        self.shares: Dict[str, Share] = {}
        self.templates: Dict[str, List[int]] = {}
        self.raw: Dict[str, int] = {}  # placement group -> raw bytes used
        self.stored_in: Dict[str, int] = {}  # placement group -> stored bytes of objects placed there
        #: gid -> (the summary it was built on, VolumesSpace/SnapshotsSpace entry)
        self.entries: Dict[str, Tuple[bytes, bytes]] = {}
        self.dirty: Set[str] = set()  # shares to recompute
        self.restat: Set[str] = set()  # files to re-read
        self.settled = 0  # shares recomputed so far (tests check it stays with the changes)
        self._scan()
        self.dirty.update(state.objects)

    # ---- marks (called by the state under its lock) -------------------------------------

    def changed(self, obj: SpObject) -> None:
        """The record (and maybe its file) changed: its share and its children's."""
        self.restat.add(obj.gid)
        self.dirty.add(obj.gid)
        self.dirty.update(self.state.children.get(obj.gid, ()))

    def mark(self, gid: Optional[str]) -> None:
        """Recompute ``gid``'s share (e.g. it gained or lost a child)."""
        if gid is not None:
            self.dirty.add(gid)

    # ---- settling --------------------------------------------------------------------

    def _scan(self) -> None:
        self.alloc = {}
        for entry in os.scandir(self.state.files.objects_dir):
            if entry.name.endswith(".raw"):
                blocks = entry.stat().st_blocks
                if blocks:
                    self.alloc[entry.name[:-4]] = blocks * 512

    def settle(self) -> None:
        """Bring every total up to date with the changes marked since the last call."""
        written = self.watch.changed()
        if written is None:
            before = self.alloc
            self._scan()
            known = set(before) | set(self.alloc)
            self._file_changed(gid for gid in known if before.get(gid, 0) != self.alloc.get(gid, 0))
        else:
            self.restat |= written
        if self.restat:
            gids, self.restat = self.restat, set()
            files = self.state.files
            moved = []
            for gid in gids:
                now = allocated(str(files.path(gid)))
                if now != self.alloc.get(gid, 0):
                    moved.append(gid)
                    if now:
                        self.alloc[gid] = now
                    else:
                        self.alloc.pop(gid, None)
            self._file_changed(moved)
        if self.dirty:
            gids, self.dirty = self.dirty, set()
            for gid in gids:
                self._recompute(gid)

    def _file_changed(self, gids: Iterable[str]) -> None:
        children = self.state.children
        for gid in gids:
            self.dirty.add(gid)
            self.dirty.update(children.get(gid, ()))

    def _recompute(self, gid: str) -> None:
        self.entries.pop(gid, None)
        old = self.shares.pop(gid, None)
        if old is not None:
            self._apply(old, -1)
        obj = self.state.objects.get(gid)
        if obj is None:
            return
        new = self._share(obj)
        self.shares[gid] = new
        self._apply(new, 1)
        self.settled += 1

    def _visible(self, obj: SpObject) -> int:
        return min(self.alloc.get(obj.gid, 0), obj.size)

    def _share(self, obj: SpObject) -> Share:
        visible = self._visible(obj)
        stored = visible
        if obj.parent is not None:
            stored = max(0, visible - self._visible(self.state.objects[obj.parent]))
        counters = [0] * 9
        if obj.is_volume:
            counters[VOLUMES] = 1
            counters[SIZE] = obj.size
            counters[TOTAL_SIZE] = obj.size * obj.replication
        else:
            counters[SNAPSHOTS] = 1
            counters[REMOVING] = 1 if obj.deleted else 0
            counters[SNAP_INNER_SIZE if self.state.children.get(obj.gid) else SNAP_LEAF_SIZE] = obj.size
        counters[STORED] = stored
        counters[ON_DISK] = stored * obj.replication
        raw = tuple((pg, stored * n) for pg, n in copies(obj).items())
        groups = tuple({obj.place_all, obj.place_tail, obj.place_head})
        return Share(obj.template, tuple(counters), raw, groups, stored, visible)

    def _apply(self, share: Share, sign: int) -> None:
        totals = self.templates.get(share.template)
        if totals is None:
            totals = self.templates[share.template] = [0] * 9
        for i, value in enumerate(share.counters):
            totals[i] += sign * value
        for pg, amount in share.raw:
            self.raw[pg] = self.raw.get(pg, 0) + sign * amount
        for pg in share.groups:
            self.stored_in[pg] = self.stored_in.get(pg, 0) + sign * share.stored

    # ---- reads (after settle) --------------------------------------------------------

    def stored(self, gid: str) -> int:
        return self.shares[gid].stored

    def visible(self, gid: str) -> int:
        return self.shares[gid].visible

    def space_used(self, obj: SpObject) -> int:
        """VolumesSpace/SnapshotsSpace ``spaceUsed``."""
        share = self.shares[obj.gid]
        if obj.is_volume:
            return share.visible
        return 0 if self.state.children.get(obj.gid) else share.stored

    def template_totals(self, name: str) -> Tuple[int, ...]:
        totals = self.templates.get(name)
        return tuple(totals) if totals is not None else _ZERO


def template_status(state: Any) -> List[Dict[str, Any]]:
    ledger: Ledger = state.ledger
    ledger.settle()
    capacity = {name: len(pg.disks) * state.options.disk_capacity for name, pg in state.pgs.items()}
    return [_one_status(tpl, ledger, capacity) for tpl in state.templates.values()]


def _one_status(tpl: Any, ledger: Ledger, capacity: Dict[str, int]) -> Dict[str, Any]:
    t = ledger.template_totals(tpl.name)
    used = ledger.raw
    replication = tpl.replication if tpl.replication != "-" else 3
    groups = {"placeAll": tpl.place_all, "placeTail": tpl.place_tail, "placeHead": tpl.place_head}
    per_group = {}
    for key, pg in groups.items():
        cap = capacity.get(pg, 0)
        per_group[key] = {"capacity": cap // replication, "free": max(0, cap - used.get(pg, 0)) // replication,
                          "internal": {"u1": 0, "u2": 0, "u3": 0}}
    total_capacity = min(capacity.get(pg, 0) for pg in groups.values()) // replication
    shared = sum(ledger.stored_in.get(pg, 0) for pg in set(groups.values()))
    data: Dict[str, Any] = {
        "id": tpl.id, "name": tpl.name, "placeAll": tpl.place_all, "placeTail": tpl.place_tail,
        "placeHead": tpl.place_head, "replication": tpl.replication,
        "volumesCount": t[VOLUMES], "snapshotsCount": t[SNAPSHOTS], "removingSnapshotsCount": t[REMOVING],
        "size": t[SIZE], "totalSize": t[TOTAL_SIZE], "storedSize": t[STORED], "onDiskSize": t[ON_DISK],
        "volumesSize": t[SIZE], "snapshotsWithoutChildrenSize": t[SNAP_LEAF_SIZE],
        "snapshotsWithChildrenSize": t[SNAP_INNER_SIZE],
        "stored": dict(per_group, capacity=total_capacity, free=max(0, total_capacity - shared),
                       internal={"u1": 0, "u2": 0, "u3": 0}),
    }
    for key, pg in groups.items():
        suffix = key[5:]
        data["capacity" + "Place" + suffix] = capacity.get(pg, 0)
        data["available" + "Place" + suffix] = max(0, capacity.get(pg, 0) - used.get(pg, 0))
    return data

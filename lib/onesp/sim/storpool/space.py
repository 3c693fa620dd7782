"""Space accounting (an emulator model, reference 4.8 and 3.5).

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
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List

from .model import SpObject, Template
from .state import State


class SpaceMap:
    """Allocated bytes of every backing file, read with one directory scan per call."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.allocated: Dict[str, int] = {}
        for entry in os.scandir(state.files.objects_dir):
            if entry.name.endswith(".raw"):
                self.allocated[entry.name[:-4]] = entry.stat().st_blocks * 512

    def visible(self, obj: SpObject) -> int:
        return min(self.allocated.get(obj.gid, 0), obj.size)

    def stored(self, obj: SpObject) -> int:
        own = self.visible(obj)
        if obj.parent is None:
            return own
        return max(0, own - self.visible(self.state.objects[obj.parent]))


def copies(obj: SpObject) -> Dict[str, int]:
    """How many of the object's replicas each of its placement groups holds."""
    out: Dict[str, int] = {}
    head = 1 if obj.replication >= 3 else 0
    for pg, n in ((obj.place_tail, 1), (obj.place_head, head), (obj.place_all, obj.replication - 1 - head)):
        if n:
            out[pg] = out.get(pg, 0) + n
    return out


def raw_usage(state: State, space: SpaceMap) -> Dict[str, int]:
    used = {name: 0 for name in state.pgs}
    for gid in space.allocated:
        obj = state.objects.get(gid)
        if obj is None:
            continue
        stored = space.stored(obj)
        for pg, n in copies(obj).items():
            used[pg] = used.get(pg, 0) + stored * n
    return used


def _sum_sizes(objs: Iterable[SpObject]) -> int:
    return sum(o.size for o in objs)


def template_status(state: State) -> List[Dict[str, Any]]:
    space = SpaceMap(state)
    capacity = {name: len(pg.disks) * state.options.disk_capacity for name, pg in state.pgs.items()}
    used = raw_usage(state, space)
    members: Dict[str, List[SpObject]] = {name: [] for name in state.templates}
    for obj in state.objects.values():
        if obj.template in members:
            members[obj.template].append(obj)
    stored_by_pg: Dict[str, int] = {name: 0 for name in state.pgs}
    for gid in space.allocated:
        obj = state.objects.get(gid)
        if obj is not None:
            for pg in {obj.place_all, obj.place_tail, obj.place_head}:
                stored_by_pg[pg] = stored_by_pg.get(pg, 0) + space.stored(obj)
    return [_one_status(state, tpl, members[tpl.name], space, capacity, used, stored_by_pg)
            for tpl in state.templates.values()]


def _one_status(state: State, tpl: Template, objs: List[SpObject], space: SpaceMap,
                capacity: Dict[str, int], used: Dict[str, int], stored_by_pg: Dict[str, int]) -> Dict[str, Any]:
    vols = [o for o in objs if o.is_volume]
    snaps = [o for o in objs if not o.is_volume]
    stored = sum(space.stored(o) for o in objs)
    replication = tpl.replication if tpl.replication != "-" else 3
    groups = {"placeAll": tpl.place_all, "placeTail": tpl.place_tail, "placeHead": tpl.place_head}
    per_group = {}
    for key, pg in groups.items():
        cap = capacity.get(pg, 0)
        per_group[key] = {"capacity": cap // replication, "free": max(0, cap - used.get(pg, 0)) // replication,
                          "internal": {"u1": 0, "u2": 0, "u3": 0}}
    total_capacity = min(capacity.get(pg, 0) for pg in groups.values()) // replication
    shared = sum(stored_by_pg.get(pg, 0) for pg in set(groups.values()))
    data: Dict[str, Any] = {
        "id": tpl.id, "name": tpl.name, "placeAll": tpl.place_all, "placeTail": tpl.place_tail,
        "placeHead": tpl.place_head, "replication": tpl.replication,
        "volumesCount": len(vols), "snapshotsCount": len(snaps),
        "removingSnapshotsCount": sum(1 for s in snaps if s.deleted),
        "size": _sum_sizes(vols), "totalSize": sum(o.size * o.replication for o in vols),
        "storedSize": stored, "onDiskSize": sum(space.stored(o) * o.replication for o in objs),
        "volumesSize": _sum_sizes(vols),
        "snapshotsWithoutChildrenSize": _sum_sizes(s for s in snaps if not state.children.get(s.gid)),
        "snapshotsWithChildrenSize": _sum_sizes(s for s in snaps if state.children.get(s.gid)),
        "stored": dict(per_group, capacity=total_capacity, free=max(0, total_capacity - shared),
                       internal={"u1": 0, "u2": 0, "u3": 0}),
    }
    for key, pg in groups.items():
        suffix = key[5:]
        data["capacity" + "Place" + suffix] = capacity.get(pg, 0)
        data["available" + "Place" + suffix] = max(0, capacity.get(pg, 0) - used.get(pg, 0))
    return data

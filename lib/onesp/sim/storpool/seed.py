"""Bulk seeding for benchmarks and scale tests (``POST /_sim/seed``, ``StorPoolSim.seed``).

Creating 10,000 volumes through the API costs 10,000 requests; seeding builds the same
records directly, in one lock hold, one generation and one SQLite transaction. Seeded
volumes have no backing file until something needs one (they read as zeros); attached
ones get their file and device links like any attachment.

Names: volume ``i`` is ``<prefix><i>``, its snapshots ``<prefix><i>-snap<j>`` (taken in
order, so the last one is the volume's parent). With ``attach`` = a list of client ids,
volume ``i`` is attached read-write to ``attach[i % len(attach)]``.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

from . import apierror
from . import validate as v
from .model import SpObject
from .state import State
from .volumecalls import new_volume

SEED_FIELDS = ("count", "prefix", "start", "size", "template", "tags", "snapshots", "attach")


def seed(state: State, count: int, prefix: str = "seed-", start: int = 0, size: int = 1 << 30,
         template: Optional[str] = None, tags: Optional[Dict[str, str]] = None, snapshots: int = 0,
         attach: Iterable[Any] = ()) -> Dict[str, int]:
    """Create ``count`` volumes (with ``snapshots`` snapshots each); returns what was made."""
    count = v.integer(count, "count", 0)
    snapshots = v.integer(snapshots, "snapshots", 0)
    size = v.size(size)
    tags = {k: val for k, val in v.tags(tags or {}).items() if val}
    clients = [v.client_id(c) for c in attach]
    with state.lock:
        tpl = state.template(v.template_name(template)) if template else None
        for c in clients:
            if c not in state.clients:
                raise apierror.invalid("No such client registered: %d" % c)
        names = ["%s%d" % (prefix, i) for i in range(start, start + count)]
        for name in names:
            v.volume_name(name + ("-snap%d" % snapshots if snapshots else ""))
            state.check_free(name)
            for j in range(snapshots):
                state.check_free("%s-snap%d" % (name, j))
        try:
            for i, name in enumerate(names):
                vol = new_volume(state, name, size, template=tpl, source=None, policy={}, tags=dict(tags))
                parent = None
                for j in range(snapshots):
                    parent = _snapshot(state, vol, "%s-snap%d" % (name, j), parent)
                vol.parent = parent
                state.add(vol)
                if clients:
                    state.set_attachments(vol, {clients[i % len(clients)]: "rw"})
            state.bump()
            state.commit()
        except BaseException:
            state.rollback()
            raise
    return {"volumes": count, "snapshots": count * snapshots, "attachments": count if clients else 0}


def _snapshot(state: State, vol: SpObject, name: str, parent: Optional[str]) -> str:
    vid, gid = state.new_ids()
    snap = SpObject(gid, vid, "snapshot", name, vol.size, state.now())
    snap.template = vol.template
    snap.apply_policy(vol.policy())
    snap.origin = vol.gid
    snap.parent = parent
    state.add(snap)
    return gid

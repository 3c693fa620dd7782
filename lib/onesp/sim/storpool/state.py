"""The emulated cluster's state: indexes over the records, ids, clock, and write-through.

Everything happens under ``State.lock`` (one re-entrant lock: calls are short, and one
lock makes every call atomic, which is what StorPool's single active mgmt gives). Each
mutation goes through a helper here that keeps the indexes (names, children, snapshot
origins, attachments, client slots) consistent, invalidates the cached JSON of the
summaries it changes, marks what the space ledger (``space.Ledger``) must take again,
and records the rows to write; ``commit()`` writes them in one
SQLite transaction, ``rollback()`` reloads the last committed state after a failure.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Set, Tuple

from . import apierror
from .data import BackingFiles
from .model import Attachment, PlacementGroup, SpObject, Template
from .slots import Slots, slots_in_use
from .space import Ledger
from .store import Batch, Store
from .switches import Options
from .writes import WriteWatch

if TYPE_CHECKING:  # remote imports this module
    from .remote import Location

#: Placement groups of a fresh cluster, with synthetic disk ids.
INITIAL_PGS = (("default", [101, 102, 103, 201, 202, 203]), ("hdd", [101, 102, 103]), ("ssd", [201, 202, 203]))


class State:
    def __init__(self, data_dir: Path, files: BackingFiles, cluster_id: str, clients: Iterable[int]) -> None:
        self.lock = threading.RLock()
        self.options = Options()
        self.files = files
        self.store = Store(data_dir / "state.sqlite")
        self._initial_cluster_id = cluster_id
        self.clients: Dict[int, str] = {int(c): "running" for c in clients}
        self.client_changed = threading.Condition(threading.Lock())
        self.stopping = False
        self.locations: Dict[str, "Location"] = {}  # set by the simulator
        self.batch = Batch()
        self.writes = WriteWatch(files.objects_dir)
        self.load()

    # ---- persistence -----------------------------------------------------------------

    def load(self) -> None:
        """(Re)build every index from SQLite."""
        self.objects: Dict[str, SpObject] = {}
        self.volumes: Dict[str, None] = {}  # ordered sets of gids
        self.snapshots: Dict[str, None] = {}
        self.names: Dict[str, str] = {}
        self.children: Dict[str, Set[str]] = {}
        self.origins: Dict[str, Set[str]] = {}
        self.special: Set[str] = set()  # snapshots the collector must look at
        self.attachments: Dict[str, Dict[int, Attachment]] = {}
        self.slots: Dict[int, Slots] = {}
        self.templates: Dict[str, Template] = {}
        self.pgs: Dict[str, PlacementGroup] = {}
        self.cache: Dict[str, bytes] = {}
        self.batch = Batch()
        meta = self.store.meta()  # counters (int), clockOffset (float), clusterId (str)
        if not meta:
            self._initialise()
            self.commit()
            meta = self.store.meta()
        self.meta = meta
        for doc in self.store.pgs():
            self.pgs[doc["name"]] = PlacementGroup.from_doc(doc)
        for doc in self.store.templates():
            self.templates[doc["name"]] = Template.from_doc(doc)
        for doc in self.store.objects():
            self._index(SpObject.from_doc(doc))
        for gid, client, rights, pos, open_ in self.store.attachments():
            self.attachments.setdefault(gid, {})[client] = Attachment(rights, pos, bool(open_))
        self.slots = slots_in_use(self.attachments)
        self.ledger = Ledger(self, self.writes)

    def _initialise(self) -> None:
        self.meta = {"generation": 1, "nextVid": 1, "nextTemplateId": 1, "nextPgId": len(INITIAL_PGS) + 1,
                     "clockOffset": 0, "clusterId": self._initial_cluster_id}
        self.batch.meta.update(self.meta)
        for pid, (name, disks) in enumerate(INITIAL_PGS, 1):
            self.put_pg(PlacementGroup(pid, name, disks))

    def commit(self) -> None:
        if self.batch:
            self.store.write(self.batch)
            self.batch = Batch()

    def rollback(self) -> None:
        """Forget uncommitted changes by reloading the committed state."""
        if self.batch:
            self.load()

    def wipe(self) -> None:
        self.store.wipe()
        self.files.wipe()
        self.batch = Batch()
        self.load()

    # ---- counters and clock ----------------------------------------------------------

    @property
    def generation(self) -> int:
        generation: int = self.meta["generation"]
        return generation

    def bump(self) -> None:
        self._meta("generation", self.meta["generation"] + 1)

    def _meta(self, key: str, value: Any) -> None:
        self.meta[key] = value
        self.batch.meta[key] = value

    def now(self) -> int:
        return int(time.time() + self.meta["clockOffset"])

    def advance_clock(self, seconds: float) -> None:
        self._meta("clockOffset", self.meta["clockOffset"] + seconds)

    def new_ids(self) -> Tuple[int, str]:
        """A new volume id and the globalId made from it."""
        vid: int = self.meta["nextVid"]
        self._meta("nextVid", vid + 1)
        return vid, "%s.%s" % (self.meta["clusterId"], base36(vid))

    def next_id(self, key: str) -> int:
        value: int = self.meta[key]
        self._meta(key, value + 1)
        return value

    # ---- lookups ---------------------------------------------------------------------

    def find(self, ref: str) -> Optional[SpObject]:
        """The object a name or ``~gid`` refers to (pending-delete names are not references)."""
        if ref.startswith("~"):
            return self.objects.get(ref[1:])
        gid = self.names.get(ref)
        return self.objects[gid] if gid is not None else None

    def volume(self, ref: str) -> SpObject:
        obj = self.find(ref)
        if obj is None or not obj.is_volume:
            raise apierror.not_found("volume %s does not exist" % ref)
        return obj

    def snapshot(self, ref: str, *, pending_ok: bool = False) -> SpObject:
        obj = self.find(ref)
        if obj is None and pending_ok and ref.startswith("*"):
            obj = next((o for o in (self.objects[g] for g in self.special)
                        if o.deleted and o.display_name == ref), None)
        if obj is None or obj.is_volume or (obj.deleted and not pending_ok):
            raise apierror.not_found("snapshot %s does not exist" % ref)
        return obj

    def check_free(self, name: str) -> None:
        if name in self.names:
            raise apierror.exists("a volume or snapshot named %s already exists" % name)

    def pg(self, name: str) -> str:
        if name not in self.pgs:
            raise apierror.not_found("placement group %s does not exist" % name)
        return name

    def template(self, name: str) -> Template:
        tpl = self.templates.get(name)
        if tpl is None:
            raise apierror.not_found("template %s does not exist" % name)
        return tpl

    def on_volume(self, obj: SpObject) -> str:
        origin = self.objects.get(obj.origin) if obj.origin else None
        return origin.display_name if origin is not None and origin.is_volume else "-"

    def ancestors(self, obj: SpObject) -> List[SpObject]:
        out = []
        gid = obj.parent
        while gid is not None:
            parent = self.objects[gid]
            out.append(parent)
            gid = parent.parent
        return out

    def is_attached(self, obj: SpObject) -> bool:
        return bool(self.attachments.get(obj.gid))

    def provisioned(self) -> int:
        return sum(self.objects[g].size for g in self.volumes)

    # ---- mutations -------------------------------------------------------------------

    def _index(self, obj: SpObject) -> None:
        self.objects[obj.gid] = obj
        (self.volumes if obj.is_volume else self.snapshots)[obj.gid] = None
        if obj.name is not None and not obj.deleted:
            self.names[obj.name] = obj.gid
        if obj.parent is not None:
            self.children.setdefault(obj.parent, set()).add(obj.gid)
        if obj.origin is not None:
            self.origins.setdefault(obj.origin, set()).add(obj.gid)
        self._classify(obj)

    def _classify(self, obj: SpObject) -> None:
        if not obj.is_volume and (obj.bound or obj.transient or obj.deleted or obj.delete_date):
            self.special.add(obj.gid)
        else:
            self.special.discard(obj.gid)

    def add(self, obj: SpObject) -> None:
        self._index(obj)
        self.touch(obj)
        self.ledger.mark(obj.parent)

    def touch(self, obj: SpObject) -> None:
        """Record that ``obj`` changed: persist it, drop its cached summary, re-classify,
        and have the space ledger take its new share (and re-read its file)."""
        self.batch.objects[obj.gid] = obj.to_doc()
        self.cache.pop(obj.gid, None)
        self._classify(obj)
        self.ledger.changed(obj)

    def _forget_views_of(self, gid: str) -> None:
        """Drop cached summaries that show this object's name (children, snapshots of it)."""
        for other in self.children.get(gid, ()):
            self.cache.pop(other, None)
        for other in self.origins.get(gid, ()):
            self.cache.pop(other, None)

    def set_parent(self, obj: SpObject, parent: Optional[str]) -> None:
        if obj.parent is not None:
            self.children.get(obj.parent, set()).discard(obj.gid)
        self.ledger.mark(obj.parent)
        self.ledger.mark(parent)
        obj.parent = parent
        if parent is not None:
            self.children.setdefault(parent, set()).add(obj.gid)
        self.touch(obj)

    def rename(self, obj: SpObject, new: Optional[str]) -> None:
        old_display = obj.display_name
        if obj.name is not None and self.names.get(obj.name) == obj.gid:
            del self.names[obj.name]
        obj.name = new
        if new is not None and not obj.deleted:
            self.names[new] = obj.gid
        self.touch(obj)
        self._forget_views_of(obj.gid)
        if self.is_attached(obj) and old_display != obj.display_name:
            self.files.rename_exposed(obj.gid, old_display, obj.display_name)

    def mark_deleted(self, obj: SpObject) -> None:
        """Pending delete: listed as ``*<name>``, its name is free again."""
        if obj.name is not None and self.names.get(obj.name) == obj.gid:
            del self.names[obj.name]
        obj.deleted_at = self.now()
        self.touch(obj)
        self._forget_views_of(obj.gid)

    def freeze(self, obj: SpObject) -> None:
        del self.volumes[obj.gid]
        self.snapshots[obj.gid] = None
        obj.kind = "snapshot"
        self.touch(obj)
        self._forget_views_of(obj.gid)
        self.files.make_readonly(obj.gid)

    def remove(self, obj: SpObject) -> None:
        """Drop an object with no children and no attachments, and its backing file."""
        gid = obj.gid
        self.ledger.changed(obj)
        self.ledger.mark(obj.parent)
        if obj.parent is not None:
            self.children.get(obj.parent, set()).discard(gid)
        if obj.origin is not None:
            self.origins.get(obj.origin, set()).discard(gid)
        if obj.name is not None and self.names.get(obj.name) == gid:
            del self.names[obj.name]
        self._forget_views_of(gid)
        self.children.pop(gid, None)
        self.origins.pop(gid, None)
        self.volumes.pop(gid, None)
        self.snapshots.pop(gid, None)
        self.special.discard(gid)
        self.cache.pop(gid, None)
        del self.objects[gid]
        self.batch.objects[gid] = None
        self.files.remove(gid)

    def put_template(self, tpl: Template, old_name: Optional[str] = None) -> None:
        if old_name is not None and old_name != tpl.name:
            del self.templates[old_name]
            self.batch.templates[old_name] = None
        self.templates[tpl.name] = tpl
        self.batch.templates[tpl.name] = tpl.to_doc()

    def drop_template(self, name: str) -> None:
        del self.templates[name]
        self.batch.templates[name] = None

    def put_pg(self, pg: PlacementGroup, old_name: Optional[str] = None) -> None:
        if old_name is not None and old_name != pg.name:
            del self.pgs[old_name]
            self.batch.pgs[old_name] = None
        self.pgs[pg.name] = pg
        self.batch.pgs[pg.name] = pg.to_doc()

    def drop_pg(self, name: str) -> None:
        del self.pgs[name]
        self.batch.pgs[name] = None

    # ---- attachments -----------------------------------------------------------------

    def set_attachments(self, obj: SpObject, wanted: Dict[int, str]) -> None:
        """Make ``obj``'s attachments exactly ``wanted`` (client -> rights), keeping positions."""
        current = self.attachments.get(obj.gid, {})
        if {c: a.rights for c, a in current.items()} == wanted:
            return
        result: Dict[int, Attachment] = {}
        for client, att in current.items():
            if client in wanted:
                att.rights = wanted[client]
                result[client] = att
            else:
                self.slots[client].give(att.pos)
        for client, rights in wanted.items():
            if client not in result:
                result[client] = Attachment(rights, self.slots.setdefault(client, Slots()).take())
        was_exposed = bool(current)
        if result:
            self.attachments[obj.gid] = result
        else:
            self.attachments.pop(obj.gid, None)
        self.persist_attachments(obj.gid)
        if result and not was_exposed:
            self.files.expose(obj.gid, obj.display_name, obj.size, readonly=not obj.is_volume)
        elif was_exposed and not result:
            self.files.unexpose(obj.gid, obj.display_name)

    def persist_attachments(self, gid: str) -> None:
        rows = self.attachments.get(gid, {})
        self.batch.attachments[gid] = [(c, a.rights, a.pos, a.open) for c, a in rows.items()]

    def exposure(self) -> Dict[str, str]:
        return {gid: self.objects[gid].display_name for gid in self.attachments}

    def set_client_status(self, client: int, status: str) -> None:
        with self.client_changed:
            self.clients[client] = status
            self.client_changed.notify_all()


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out

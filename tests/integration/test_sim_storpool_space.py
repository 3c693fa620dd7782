"""The emulator's space figures are kept up to date as objects change, not recomputed per answer.

VolumeTemplatesStatus, VolumesSpace and SnapshotsSpace are checked against a from-scratch
computation (every backing file read, every object walked: how the emulator answered
before it kept a ledger) after random sequences of creates, clones, snapshots, data
writes through the devices, resizes, reverts, rebases, freezes, deletes, template changes
and garbage collection; and an answer after a few changes must read only what changed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onesp.sim.storpool import StorPoolSim, new_token
from onesp.sim.storpool.views import summary

MIB = 1 << 20
TEMPLATES = ("t-hdd", "t-mixed")


class Emulator:
    """An emulator driven in-process through its dispatcher (the HTTP layer adds nothing here)."""

    def __init__(self, root: Path, inotify: bool = True) -> None:
        self.sim = StorPoolSim(root / "data", root / "dev" / "storpool", token=new_token(), clients=range(1, 5))
        self.state = self.sim.state
        if not inotify:
            self.state.writes.close()  # as on a system without inotify: every answer re-reads the files
        self.auth = "Storpool v1:" + self.sim.token
        self.ok("POST", "VolumeTemplateCreate", {"name": "t-hdd", "placeAll": "hdd", "replication": 2})
        self.ok("POST", "VolumeTemplateCreate", {"name": "t-mixed", "placeAll": "default", "placeTail": "ssd"})
        self.state.options.gc_delay = 30  # pending deletes stay until the clock moves

    def call(self, method: str, call: str, body: Any = None) -> Any:
        raw = json.dumps(body).encode() if body is not None else b""
        resp = self.sim.dispatcher.handle(method, "/ctrl/1.0/" + call, self.auth, raw)
        return json.loads(resp.body)["data"] if resp.status == 200 else None

    def ok(self, method: str, call: str, body: Any = None) -> Any:
        data = self.call(method, call, body)
        assert data is not None, call
        return data

    def hook(self, method: str, path: str, body: Any) -> None:
        self.sim.dispatcher.handle(method, "/_sim/" + path, self.auth, json.dumps(body).encode())

    def names(self, kind: str) -> List[str]:
        gids = self.state.volumes if kind == "volume" else self.state.snapshots
        return sorted(self.state.objects[g].display_name for g in gids)

    def close(self) -> None:
        self.sim.stop()


# ---- the from-scratch computation -------------------------------------------------------

def from_scratch(state) -> Dict[str, Any]:
    """Template status and per-object space, computed by walking every file and object."""
    alloc = {}
    for entry in os.scandir(state.files.objects_dir):
        if entry.name.endswith(".raw"):
            alloc[entry.name[:-4]] = entry.stat().st_blocks * 512
    objects = state.objects

    def visible(obj):
        return min(alloc.get(obj.gid, 0), obj.size)

    def stored(obj):
        own = visible(obj)
        return own if obj.parent is None else max(0, own - visible(objects[obj.parent]))

    def copies(obj):
        out: Dict[str, int] = {}
        head = 1 if obj.replication >= 3 else 0
        for pg, n in ((obj.place_tail, 1), (obj.place_head, head), (obj.place_all, obj.replication - 1 - head)):
            if n:
                out[pg] = out.get(pg, 0) + n
        return out

    capacity = {name: len(pg.disks) * state.options.disk_capacity for name, pg in state.pgs.items()}
    used: Dict[str, int] = {}
    stored_by_pg: Dict[str, int] = {}
    for obj in objects.values():
        for pg, n in copies(obj).items():
            used[pg] = used.get(pg, 0) + stored(obj) * n
        for pg in {obj.place_all, obj.place_tail, obj.place_head}:
            stored_by_pg[pg] = stored_by_pg.get(pg, 0) + stored(obj)
    statuses = []
    for tpl in state.templates.values():
        objs = [o for o in objects.values() if o.template == tpl.name]
        vols = [o for o in objs if o.is_volume]
        snaps = [o for o in objs if not o.is_volume]
        replication = tpl.replication if tpl.replication != "-" else 3
        groups = {"placeAll": tpl.place_all, "placeTail": tpl.place_tail, "placeHead": tpl.place_head}
        per_group = {key: {"capacity": capacity.get(pg, 0) // replication,
                           "free": max(0, capacity.get(pg, 0) - used.get(pg, 0)) // replication,
                           "internal": {"u1": 0, "u2": 0, "u3": 0}} for key, pg in groups.items()}
        total = min(capacity.get(pg, 0) for pg in groups.values()) // replication
        shared = sum(stored_by_pg.get(pg, 0) for pg in set(groups.values()))
        data = {
            "id": tpl.id, "name": tpl.name, "placeAll": tpl.place_all, "placeTail": tpl.place_tail,
            "placeHead": tpl.place_head, "replication": tpl.replication,
            "volumesCount": len(vols), "snapshotsCount": len(snaps),
            "removingSnapshotsCount": sum(1 for s in snaps if s.deleted),
            "size": sum(o.size for o in vols), "totalSize": sum(o.size * o.replication for o in vols),
            "storedSize": sum(stored(o) for o in objs), "onDiskSize": sum(stored(o) * o.replication for o in objs),
            "volumesSize": sum(o.size for o in vols),
            "snapshotsWithoutChildrenSize": sum(s.size for s in snaps if not state.children.get(s.gid)),
            "snapshotsWithChildrenSize": sum(s.size for s in snaps if state.children.get(s.gid)),
            "stored": dict(per_group, capacity=total, free=max(0, total - shared),
                           internal={"u1": 0, "u2": 0, "u3": 0}),
        }
        for key, pg in groups.items():
            data["capacityPlace" + key[5:]] = capacity.get(pg, 0)
            data["availablePlace" + key[5:]] = max(0, capacity.get(pg, 0) - used.get(pg, 0))
        statuses.append(data)
    volumes = [dict(summary(state, objects[g]), storedSize=stored(objects[g]), spaceUsed=visible(objects[g]))
               for g in state.volumes]
    snapshots = [dict(summary(state, objects[g]), storedSize=stored(objects[g]),
                      spaceUsed=0 if state.children.get(g) else stored(objects[g])) for g in state.snapshots]
    return {"VolumeTemplatesStatus": statuses, "VolumesSpace": volumes, "SnapshotsSpace": snapshots}


def assert_answers_match(emu: Emulator) -> None:
    answers = {call: emu.ok("GET", call) for call in ("VolumeTemplatesStatus", "VolumesSpace", "SnapshotsSpace")}
    with emu.state.lock:
        expected = json.loads(json.dumps(from_scratch(emu.state)))
    assert answers == expected
    status = emu.ok("GET", "VolumesGetStatus")
    for entry in expected["VolumesSpace"] + expected["SnapshotsSpace"]:
        assert status[entry["name"]]["storedSize"] == entry["storedSize"]


# ---- random histories -------------------------------------------------------------------

def pick(names: List[str], index: int) -> Optional[str]:
    return names[index % len(names)] if names else None


def apply(emu: Emulator, op: tuple) -> None:
    kind, a, b, c = op
    volumes, snapshots = emu.names("volume"), [s for s in emu.names("snapshot") if not s.startswith("*")]
    vol, snap = pick(volumes, a), pick(snapshots, b)
    if kind == "create":
        body: Dict[str, Any] = {"name": "v%d" % len(emu.state.objects), "template": TEMPLATES[a % 2]}
        if snap is not None and c % 4:
            body["parent"] = snap
        else:
            body["size"] = (1 + c % 8) * MIB
        emu.call("POST", "VolumeCreate", body)
    elif vol is None:
        return
    elif kind == "clone":
        emu.call("POST", "VolumeCreate", {"name": "c%d" % len(emu.state.objects), "baseOn": vol})
    elif kind == "snapshot":
        emu.call("POST", "VolumeSnapshot/" + vol, {})
    elif kind == "write":
        gid = emu.state.volume(vol).gid
        emu.ok("POST", "VolumesReassignWait", {"reassign": [{"volume": vol, "rw": [str(1 + a % 4)]}]})
        fd = os.open(emu.sim.byid_dir / gid, os.O_WRONLY)
        try:
            os.pwrite(fd, bytes([1 + b % 255]) * ((1 + c % 4) * 65536), (b % 6) * MIB)
        finally:
            os.close(fd)
        if c % 3:
            emu.ok("POST", "VolumesReassignWait", {"reassign": [{"volume": vol, "detach": "all", "force": True}]})
    elif kind == "resize":
        emu.call("POST", "VolumeUpdate/" + vol, {"size": (1 + c % 10) * MIB, "shrinkOk": True})
    elif kind == "delete":
        emu.call("POST", "VolumeDelete/" + vol, {"onAttached": "detachForce"})
    elif kind == "snapdelete" and snap is not None:
        emu.call("POST", "SnapshotDelete/" + snap, {})
    elif kind == "revert" and snap is not None:
        emu.ok("POST", "VolumesReassignWait", {"reassign": [{"volume": vol, "detach": "all", "force": True}]})
        emu.call("POST", "VolumeRevert/" + vol, {"toSnapshot": snap})
    elif kind == "rebase":
        emu.call("POST", "VolumeRebase/" + vol, {})
    elif kind == "freeze":
        emu.ok("POST", "VolumesReassignWait", {"reassign": [{"volume": vol, "detach": "all", "force": True}]})
        emu.call("POST", "VolumeFreeze/" + vol, {})
    elif kind == "retemplate":
        emu.call("POST", "VolumeUpdate/" + vol, {"template": TEMPLATES[c % 2]})
    elif kind == "propagate":
        emu.call("POST", "VolumeTemplateUpdate/" + TEMPLATES[a % 2], {"replication": 1 + c % 3, "propagate": True})
    elif kind == "clock":
        emu.hook("POST", "clock", {"advance": 60})


OPS = st.tuples(
    st.sampled_from(("create", "create", "clone", "snapshot", "snapshot", "write", "write", "resize", "delete",
                     "snapdelete", "revert", "rebase", "freeze", "retemplate", "propagate", "clock")),
    st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "rescan"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=1, max_size=25))
def test_answers_equal_a_from_scratch_computation_after_any_history(inotify, ops):
    with tempfile.TemporaryDirectory(prefix="sp-space-") as root:
        emu = Emulator(Path(root), inotify=inotify)
        try:
            assert_answers_match(emu)
            for n, op in enumerate(ops):
                apply(emu, op)
                if n % 3 == 2 or n == len(ops) - 1:
                    assert_answers_match(emu)
        finally:
            emu.close()


def test_an_answer_reads_only_what_changed_since_the_last(tmp_path, monkeypatch):
    emu = Emulator(tmp_path)
    try:
        emu.sim.seed(2000, prefix="one-img-", size=64 * MIB, template="t-mixed", snapshots=2, attach=range(1, 5))
        emu.ok("GET", "VolumeTemplatesStatus")
        calls = {"scandir": 0, "stat": 0}

        def counting(name, real):
            def wrapper(*args, **kwargs):
                calls[name] += 1
                return real(*args, **kwargs)
            return wrapper

        monkeypatch.setattr(os, "scandir", counting("scandir", os.scandir))
        monkeypatch.setattr(os, "stat", counting("stat", os.stat))
        emu.ok("POST", "VolumeCreate", {"name": "new", "size": 8 * MIB, "template": "t-mixed"})
        with open(emu.sim.dev_dir / "one-img-7", "r+b") as device:  # attached by the seeding
            device.write(b"x" * MIB)
        emu.ok("POST", "VolumeSnapshot/one-img-7", {"name": "one-img-7-snap2"})
        before, settled = calls["stat"], emu.state.ledger.settled
        status = {t["name"]: t for t in emu.ok("GET", "VolumeTemplatesStatus")}
        spaces = {e["name"]: e for e in emu.ok("GET", "VolumesSpace") + emu.ok("GET", "SnapshotsSpace")}
        assert calls["scandir"] == 0
        assert calls["stat"] - before <= 6  # the files of the two new objects and of the written volume
        assert emu.state.ledger.settled - settled <= 6  # their shares, and the new snapshot's parent's
        assert status["t-mixed"]["volumesCount"] == 2001 and status["t-mixed"]["snapshotsCount"] == 4001
        assert status["t-mixed"]["storedSize"] == MIB
        assert spaces["one-img-7-snap2"]["storedSize"] == MIB and spaces["one-img-7"]["spaceUsed"] == MIB
    finally:
        emu.close()

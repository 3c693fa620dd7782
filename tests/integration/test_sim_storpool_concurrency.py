"""16 threads creating, cloning, attaching and deleting at once leave a consistent state."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from onesp.sim.storpool import StorPoolSim
from onesp.sim.storpool.control import SimControl

MIB = 1 << 20
THREADS = 16
ROUNDS = 5


def worker(ctl: SimControl, dev: Path, n: int, successes: list, failures: list) -> None:
    def call(method, path, body=None, expect=None):
        resp = ctl.api(method, path, body)
        if resp.ok:
            if method == "POST":
                successes.append(path)
        elif expect is None or resp.error["name"] != expect:
            failures.append((path, resp.body))
        return resp

    for r in range(ROUNDS):
        vol, snap, clone, copy = ("t%d-r%d-%s" % (n, r, kind) for kind in ("vol", "snap", "clone", "copy"))
        call("POST", "VolumeCreate", {"name": vol, "size": 2 * MIB, "tags": {"t": str(n)}})
        call("POST", "VolumesReassignWait", {"reassign": [{"volume": vol, "rw": [n % 16 + 1]}]})
        with open(dev / vol, "r+b") as fh:
            fh.write(vol.encode())
        call("POST", "VolumeSnapshot/" + vol, {"name": snap})
        call("POST", "VolumeCreate", {"name": clone, "parent": snap})
        call("POST", "VolumeCreate", {"name": copy, "baseOn": vol})
        call("POST", "VolumeCreate", {"name": "shared-%d" % r, "size": MIB}, expect="objectExists")
        call("POST", "VolumeDelete/" + vol, expect="busy")  # still attached: refused
        call("POST", "VolumesReassignWait", {"reassign": [{"volume": vol, "detach": "all", "force": True}]})
        call("POST", "SnapshotDelete/" + snap)  # has a child: pending delete, collected
        for name in (vol, clone):
            call("POST", "VolumeDelete/" + name)


def test_concurrent_clients_leave_a_consistent_state(tmp_path):
    data, dev = tmp_path / "data", tmp_path / "dev"
    with StorPoolSim(data, dev, token="5") as sim:
        ctl = SimControl.from_env(sim.env)
        start_generation = ctl.api("GET", "VolumesList").body["generation"]
        successes: list = []
        failures: list = []
        threads = [threading.Thread(target=worker, args=(ctl, dev, n, successes, failures)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        state = ctl.state(with_bytes=True)
        generation = ctl.api("GET", "VolumesList").body["generation"]

    # one generation per successful change, none lost or doubled
    assert generation - start_generation == len(successes)
    # what is left: each thread's baseOn copies with the right bytes, and one winner per shared name
    copies = {name: v for name, v in state["volumes"].items() if name.endswith("-copy")}
    assert len(copies) == THREADS * ROUNDS
    assert sorted(n for n in state["volumes"] if n.startswith("shared-")) == ["shared-%d" % r for r in range(ROUNDS)]
    assert state["snapshots"] == {} and state["attachments"] == []
    assert all(v["parent"] is None for v in copies.values())
    for name, vol in copies.items():
        expected = (name[: -len("copy")] + "vol").encode()  # what its thread wrote before baseOn
        with open(data / "objects" / (vol["globalId"] + ".raw"), "rb") as fh:
            assert fh.read(len(expected)) == expected
    # no leaked backing files or device links
    gids = {v["globalId"] for v in state["volumes"].values()}
    files = {p.name[:-4] for p in (data / "objects").iterdir() if p.name.endswith(".raw")}
    assert files <= gids and os.listdir(dev) == []
    # the database agrees with what was served
    with StorPoolSim(data, dev, token="5") as again:
        assert SimControl.from_env(again.env).state(with_bytes=True) == state

"""Every /_sim/ test hook does what it says: faults, latency, call log, state, reset, seed."""

from __future__ import annotations

import http.client
import socket
import struct
import time

import pytest

from onesp.sim.storpool.control import SimControlError

MIB = 1 << 20


def create(sp_sim, name):
    return sp_sim.api("POST", "VolumeCreate", {"name": name, "size": MIB})


def names(sp_sim):
    return sorted(v["name"] for v in sp_sim.api("GET", "VolumesList").data)


def test_fault_before_has_no_effect(sp_sim):
    sp_sim.ctl.inject_fault("VolumeCreate", error="insufficientResources", descr="disks full")
    resp = create(sp_sim, "a")
    assert resp.status == 500
    assert resp.error == {"name": "insufficientResources", "descr": "disks full", "transient": False}
    assert names(sp_sim) == []
    assert create(sp_sim, "a").ok  # count=1: the next call goes through


def test_fault_after_keeps_the_effect(sp_sim):
    sp_sim.ctl.inject_fault("VolumeCreate", error="busy", transient=True, when="after")
    resp = create(sp_sim, "a")
    assert resp.error["name"] == "busy" and resp.error["transient"] is True
    assert names(sp_sim) == ["a"]


def test_fault_count_match_and_clear(sp_sim):
    sp_sim.ctl.inject_fault("VolumeCreate", count=2, match="b")
    assert create(sp_sim, "a").ok
    assert not create(sp_sim, "b").ok and not create(sp_sim, "b").ok
    assert create(sp_sim, "b").ok
    sp_sim.ctl.inject_fault("*", error="objectDoesNotExist", count=-1)
    assert sp_sim.ctl.faults()[0]["call"] == "*"
    assert sp_sim.api("GET", "VolumesList").error["name"] == "objectDoesNotExist"
    assert sp_sim.api("GET", "SnapshotsList").error["name"] == "objectDoesNotExist"
    sp_sim.ctl.clear_faults()
    assert sp_sim.api("GET", "VolumesList").ok


def test_fault_matches_reassign_items(sp_sim):
    create(sp_sim, "a")
    create(sp_sim, "b")
    sp_sim.ctl.inject_fault("VolumesReassignWait", match="b", error="busy")
    assert sp_sim.api("POST", "VolumesReassignWait", {"reassign": [{"volume": "a", "rw": [1]}]}).ok
    body = {"reassign": [{"volume": "a", "rw": [2]}, {"volume": "b", "rw": [2]}]}
    assert sp_sim.api("POST", "VolumesReassignWait", body).error["name"] == "busy"
    assert len(sp_sim.api("GET", "AttachmentsList").data) == 1


def test_connection_reset_after_the_effect(sp_sim):
    sp_sim.ctl.inject_fault("VolumeCreate", error="connectionReset", when="after")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        create(sp_sim, "a")
    assert names(sp_sim) == ["a"]
    [logged] = [c for c in sp_sim.ctl.calls() if c["call"] == "VolumeCreate"]
    assert logged["error"] == "connectionReset"


def test_latency_per_call_and_for_all(sp_sim):
    sp_sim.ctl.set_latency("VolumesList", 800)
    started = time.monotonic()
    sp_sim.api("GET", "VolumesList")
    assert time.monotonic() - started >= 0.8
    started = time.monotonic()
    sp_sim.api("GET", "SnapshotsList")
    assert time.monotonic() - started < 0.8  # not delayed (a margin for a busy machine)
    sp_sim.ctl.set_latency("VolumesList", 0)
    sp_sim.ctl.set_latency("*", 200)
    started = time.monotonic()
    sp_sim.api("GET", "SnapshotsList")
    assert time.monotonic() - started >= 0.2


def test_call_log_and_counts(sp_sim):
    create(sp_sim, "a")
    create(sp_sim, "a")
    sp_sim.api("GET", "Volume/a")
    calls = sp_sim.ctl.calls()
    assert [(c["call"], c["arg"], c["status"], c["error"]) for c in calls] == [
        ("VolumeCreate", "a", 200, None), ("VolumeCreate", "a", 500, "objectExists"), ("Volume", "a", 200, None)]
    assert sp_sim.ctl.counts() == {"VolumeCreate": 2, "Volume": 1}
    sp_sim.ctl.reset_calls()
    assert sp_sim.ctl.calls() == [] and sp_sim.ctl.counts() == {}


def test_state_dump_compares_equal_after_undo(sp_sim):
    create(sp_sim, "a")
    sp_sim.api("POST", "VolumesReassignWait", {"reassign": [{"volume": "a", "rw": [3]}]})
    before = sp_sim.ctl.state()
    assert before["volumes"]["a"]["size"] == MIB and before["attachments"][0]["client"] == 3
    sp_sim.api("POST", "VolumeUpdate/a", {"rename": "b", "tags": {"x": "y"}})
    assert sp_sim.ctl.state() != before
    sp_sim.api("POST", "VolumeUpdate/b", {"rename": "a", "tags": {"x": ""}})
    assert sp_sim.ctl.state() == before


def test_reset_wipes_everything(sp_sim):
    create(sp_sim, "a")
    sp_sim.api("POST", "VolumesReassignWait", {"reassign": [{"volume": "a", "rw": [1]}]})
    sp_sim.ctl.inject_fault("VolumeDelete", count=-1)
    sp_sim.ctl.set_client(4, "down")
    sp_sim.ctl.advance_clock(1000)
    sp_sim.ctl.reset()
    state = sp_sim.ctl.state()
    assert state["volumes"] == {} and state["attachments"] == [] and sp_sim.ctl.faults() == []
    assert not (sp_sim.dev_dir / "a").exists()
    assert abs(sp_sim.ctl.now() - time.time()) < 5
    assert sp_sim.api("GET", "ServicesList").data["clients"]["4"]["status"] == "running"


def test_clock_advance_reports_time(sp_sim):
    now = sp_sim.ctl.now()
    assert sp_sim.ctl.advance_clock(3600) >= now + 3600


def test_open_mark_needs_an_attachment(sp_sim):
    create(sp_sim, "a")
    with pytest.raises(SimControlError) as info:
        sp_sim.ctl.set_open("a", 1)
    assert info.value.name == "objectDoesNotExist"


def test_seed_over_http_and_direct(sp_sim, sp_seed):
    assert sp_sim.ctl.seed(100, prefix="h-", snapshots=2, attach=[1, 2]) == {
        "volumes": 100, "snapshots": 200, "attachments": 100}
    assert sp_seed(50, prefix="d-", tags={"virt": "one"}) == {"volumes": 50, "snapshots": 0, "attachments": 0}
    state = sp_sim.ctl.state()
    assert len(state["volumes"]) == 150 and len(state["snapshots"]) == 200
    assert state["volumes"]["h-7"]["parent"] == "h-7-snap1"
    assert state["volumes"]["d-3"]["tags"] == {"virt": "one"}
    assert (sp_sim.dev_dir / "h-99").exists()
    with pytest.raises(SimControlError):
        sp_sim.ctl.seed(1, prefix="h-")  # h-0 exists


def test_config_round_trip(sp_sim):
    assert sp_sim.ctl.config()["gc_delay"] == 0
    assert sp_sim.ctl.config(gc_delay=5, max_provisioned=MIB)["max_provisioned"] == MIB
    assert sp_sim.ctl.config(max_provisioned=None)["max_provisioned"] is None
    with pytest.raises(SimControlError):
        sp_sim.ctl.config(colour="red")


def test_hooks_need_the_token(sp_sim):
    conn = http.client.HTTPConnection(sp_sim.env["SP_API_HTTP_HOST"], int(sp_sim.env["SP_API_HTTP_PORT"]))
    conn.request("GET", "/_sim/state")
    assert conn.getresponse().status == 401
    conn.close()


def test_a_client_that_goes_away_mid_call_is_not_a_traceback(sp_sim, capfd):
    """An action killed while its call is in flight: the emulator says nothing and serves on."""
    sp_sim.ctl.set_latency("VolumesList", 200)
    request = b"GET /ctrl/1.0/VolumesList HTTP/1.0\r\nAuthorization: Storpool v1:%s\r\n\r\n" % (
        sp_sim.env["SP_AUTH_TOKEN"].encode())
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", int(sp_sim.env["SP_API_HTTP_PORT"]))) as client:
            client.sendall(request)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    time.sleep(0.5)
    assert [c["call"] for c in sp_sim.ctl.calls()] == ["VolumesList"] * 3
    sp_sim.ctl.set_latency("VolumesList", 0)
    assert sp_sim.api("GET", "VolumesList").ok
    assert capfd.readouterr().err == ""

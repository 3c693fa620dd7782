"""StorPool semantics over raw HTTP: envelope, errors, namespace, snapshot life, attachments."""

from __future__ import annotations

import http.client
import json
import threading
import time

MIB = 1 << 20


def ok(sp_sim, method, call, body=None):
    resp = sp_sim.api(method, call, body)
    assert resp.ok, resp.body
    return resp.data


def err(sp_sim, method, call, body=None):
    resp = sp_sim.api(method, call, body)
    assert not resp.ok and resp.status != 200, resp.body
    assert set(resp.error) == {"name", "descr", "transient"}
    return resp.error["name"]


def raw(sp_sim, method, path, body=None, auth=True):
    conn = http.client.HTTPConnection(sp_sim.env["SP_API_HTTP_HOST"], int(sp_sim.env["SP_API_HTTP_PORT"]))
    headers = {"Authorization": "Storpool v1:" + sp_sim.env["SP_AUTH_TOKEN"]} if auth else {}
    conn.request(method, path, body, headers)
    resp = conn.getresponse()
    out = (resp.status, dict(resp.getheaders()), json.loads(resp.read()))
    conn.close()
    return out


def test_envelope_headers_and_statuses(sp_sim):
    status, headers, doc = raw(sp_sim, "GET", "/ctrl/1.0/VolumesList")
    assert status == 200 and set(doc) == {"generation", "data"} and doc["data"] == []
    assert headers["Content-Type"] == "application/json" and headers["Connection"] == "close"
    status, _, doc = raw(sp_sim, "GET", "/ctrl/1.0/VolumesList", auth=False)
    assert status == 401 and doc["error"]["name"] == "authenticationFailed"
    status, _, doc = raw(sp_sim, "GET", "/ctrl/1.0/NoSuchCall")
    assert status == 404 and doc["error"]["name"] == "invalidParam"
    status, _, doc = raw(sp_sim, "POST", "/ctrl/1.0/VolumeCreate", b"{not json")
    assert status == 500 and doc["error"]["name"] == "invalidParam"
    # curl -d sends a form content type; the body is JSON all the same
    status, _, doc = raw(sp_sim, "POST", "/ctrl/1.0/MultiCluster/VolumeCreate", b'{"name":"v","size":1048576}')
    assert status == 200 and doc["data"]["ok"] is True and doc["data"]["generation"] == doc["generation"]
    status, _, doc = raw(sp_sim, "GET", "/ctrl/1.0/RemoteCommand/emulator/MultiCluster/Volume/v")
    assert status == 200 and doc["data"][0]["name"] == "v"
    status, _, doc = raw(sp_sim, "GET", "/ctrl/1.0/RemoteCommand/other/VolumesList")
    assert doc["error"]["name"] == "objectDoesNotExist"


def test_generation_moves_on_every_change(sp_sim):
    gen = lambda: sp_sim.api("GET", "VolumesList").body["generation"]  # noqa: E731
    g0 = gen()
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    g1 = gen()
    ok(sp_sim, "POST", "VolumeUpdate/v", {"tags": {"a": "b"}})
    assert g0 < g1 < gen()
    err(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    assert gen() == g1 + 1  # a refused call changes nothing


def test_names_and_values_are_validated(sp_sim):
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "bad name", "size": MIB}) == "invalidParam"
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "list", "size": MIB}) == "invalidParam"
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "x" * 200, "size": MIB}) == "invalidParam"
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": 1000}) == "invalidParam"
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "v"}) == "invalidParam"
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB, "colour": "red"}) == "invalidParam"
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB, "tags": {"k": "a b"}}) == "invalidParam"
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB, "placeAll": "nope"}) == "objectDoesNotExist"
    long_tags = {"k%d" % i: "v" * 30 for i in range(7)}
    assert err(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB, "tags": long_tags}) == "invalidParam"
    sp_sim.ctl.config(name_tags_limit=False)
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB, "tags": long_tags})
    assert err(sp_sim, "POST", "VolumeTemplateCreate", {"name": "a.b"}) == "invalidParam"


def test_anonymous_objects(sp_sim):
    created = ok(sp_sim, "POST", "VolumeCreate", {"size": MIB})
    assert created["name"] == "~" + created["globalId"]
    snap = ok(sp_sim, "POST", "VolumeSnapshot/" + created["name"], {"name": ""})
    [listed] = ok(sp_sim, "GET", "SnapshotsList")
    assert listed["name"] == "~" + snap["snapshotGlobalId"] and listed["autoName"] is False
    assert listed["onVolume"] == created["name"]
    ok(sp_sim, "POST", "VolumeDelete/" + created["name"])
    assert ok(sp_sim, "GET", "Snapshot/~" + snap["snapshotGlobalId"])[0]["onVolume"] == "-"


def test_pending_delete_and_gc_delay(sp_sim):
    sp_sim.ctl.config(gc_delay=60)
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    ok(sp_sim, "POST", "VolumeSnapshot/v", {"name": "s"})
    ok(sp_sim, "POST", "SnapshotDelete/s")
    [pending] = ok(sp_sim, "GET", "SnapshotsList")
    assert pending["name"] == "*s" and pending["deleted"] is True
    assert ok(sp_sim, "GET", "Volume/v")[0]["parentName"] == "*s"
    assert ok(sp_sim, "GET", "Snapshot/*s")[0]["deleted"] is True
    assert err(sp_sim, "POST", "SnapshotDelete/*s") == "objectDoesNotExist"
    ok(sp_sim, "POST", "VolumeSnapshot/v", {"name": "s"})  # the name is free again
    ok(sp_sim, "POST", "SnapshotDelete/s")
    sp_sim.ctl.advance_clock(61)
    assert ok(sp_sim, "GET", "SnapshotsList") == []
    assert ok(sp_sim, "GET", "Volume/v")[0]["parentName"] == ""


def test_transient_snapshot_of_baseon_is_visible_until_collected(sp_sim):
    sp_sim.ctl.config(gc_delay=30)
    ok(sp_sim, "POST", "VolumeCreate", {"name": "src", "size": MIB})
    created = ok(sp_sim, "POST", "VolumeCreate", {"name": "copy", "baseOn": "src"})
    [transient] = ok(sp_sim, "GET", "SnapshotsList")
    assert transient["name"] == created["autoName"] and transient["transient"] is True
    assert ok(sp_sim, "GET", "Volume/copy")[0]["parentName"] == transient["name"]
    bad = {"reassign": [{"snapshot": transient["name"], "ro": [1]}]}
    assert err(sp_sim, "POST", "VolumesReassignWait", bad) == "invalidParam"
    sp_sim.ctl.advance_clock(31)
    assert ok(sp_sim, "GET", "SnapshotsList") == []


def test_delete_after_expiry_and_bound_snapshots(sp_sim):
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    ok(sp_sim, "POST", "VolumeSnapshot/v", {"deleteAfter": 172800})  # the addon's DELAY_DELETE
    ok(sp_sim, "POST", "VolumeDelete/v")
    assert len(ok(sp_sim, "GET", "SnapshotsList")) == 1
    sp_sim.ctl.advance_clock(172799)
    assert len(ok(sp_sim, "GET", "SnapshotsList")) == 1
    sp_sim.ctl.advance_clock(2)
    assert ok(sp_sim, "GET", "SnapshotsList") == []

    ok(sp_sim, "POST", "VolumeCreate", {"name": "w", "size": MIB})
    ok(sp_sim, "POST", "VolumeSnapshot/w", {"name": "b", "bind": True})
    assert [s["bound"] for s in ok(sp_sim, "GET", "SnapshotsList")] == [True]
    ok(sp_sim, "POST", "VolumeDelete/w")  # the bound snapshot lost its only child
    assert ok(sp_sim, "GET", "SnapshotsList") == []


def test_tags_merge_and_empty_value_removes(sp_sim):
    ok(sp_sim, "POST", "VolumeTemplateCreate", {"name": "t", "tags": {"virt": "one"}})
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB, "template": "t", "tags": {"nvm": "4", "x": ""}})
    assert ok(sp_sim, "GET", "Volume/v")[0]["tags"] == {"virt": "one", "nvm": "4"}
    ok(sp_sim, "POST", "VolumeUpdate/v", {"tags": {"nvm": "", "type": "PERS"}})
    assert ok(sp_sim, "GET", "Volume/v")[0]["tags"] == {"virt": "one", "type": "PERS"}


def test_attachment_rules(sp_sim):
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    ok(sp_sim, "POST", "VolumeSnapshot/v", {"name": "s"})
    ok(sp_sim, "POST", "VolumesReassignWait", [{"volume": "v", "rw": ["1", 2]}])  # bare array, strings
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "rw": [1]}]})  # no-op
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "ro": [2]}]})  # downgrade
    rights = {(a["client"], a["rights"]) for a in ok(sp_sim, "GET", "AttachmentsList")}
    assert rights == {(1, "rw"), (2, "ro")}
    assert err(sp_sim, "POST", "VolumesReassign", [{"snapshot": "s", "rw": [1]}]) == "invalidParam"
    assert err(sp_sim, "POST", "VolumesReassign", [{"volume": "v", "rw": [3], "detach": [3]}]) == "invalidParam"
    assert err(sp_sim, "POST", "VolumesReassign", [{"volume": "v", "rw": [0]}]) == "invalidParam"
    ok(sp_sim, "POST", "VolumesReassign", [{"volume": "v", "detach": [9]}])  # not attached there: fine
    assert err(sp_sim, "POST", "VolumeFreeze/v") == "busy"
    assert err(sp_sim, "POST", "VolumeRevert/v", {"toSnapshot": "s"}) == "busy"
    sp_sim.ctl.set_open("v", 2)
    assert err(sp_sim, "POST", "VolumeDelete/v", {"onAttached": "detach"}) == "busy"
    ok(sp_sim, "POST", "VolumeDelete/v", {"onAttached": "detachForce"})
    assert ok(sp_sim, "GET", "AttachmentsList") == [] and not (sp_sim.dev_dir / "v").exists()


def test_attach_to_a_down_client_waits_for_attach_timeout(sp_sim):
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    sp_sim.ctl.set_client(7, "down")
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "rw": [7]}], "attachTimeout": 0})
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "detach": "all"}]})
    started = time.monotonic()
    resp = sp_sim.api("POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "rw": [7]}], "attachTimeout": 1})
    assert 0.9 < time.monotonic() - started < 5
    assert resp.error["name"] == "busy" and resp.error["transient"] is True
    assert [a["client"] for a in ok(sp_sim, "GET", "AttachmentsList")] == [7]  # the change stays recorded
    assert ok(sp_sim, "GET", "ClientsConfigDump")[6]["configStatus"] == "down"

    threading.Timer(0.3, sp_sim.ctl.set_client, (7, "running")).start()
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "ro": [7]}]})  # waits, then ok


def test_template_propagation_and_inheritance(sp_sim):
    ok(sp_sim, "POST", "VolumeTemplateCreate", {"name": "t", "replication": 2, "placeAll": "hdd", "iops": 500})
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB, "template": "t", "bw": 100})
    ok(sp_sim, "POST", "VolumeSnapshot/v", {"name": "s"})
    ok(sp_sim, "POST", "VolumeCreate", {"name": "c", "parent": "s"})
    [c] = ok(sp_sim, "GET", "Volume/c")
    assert (c["templateName"], c["replication"], c["iops"], c["bw"], c["size"]) == ("t", 2, 500, 100, MIB)
    ok(sp_sim, "POST", "VolumeTemplateUpdate/t", {"iops": 900})
    assert ok(sp_sim, "GET", "Volume/c")[0]["iops"] == 500  # no propagate: existing volumes keep theirs
    ok(sp_sim, "POST", "VolumeTemplateUpdate/t", {"iops": 900, "propagate": True, "rename": "t2"})
    assert {v["templateName"] for v in ok(sp_sim, "GET", "VolumesList")} == {"t2"}
    assert {v["iops"] for v in ok(sp_sim, "GET", "VolumesList")} == {900}
    assert ok(sp_sim, "GET", "Snapshot/s")[0]["iops"] == 900


def test_renames_show_in_children_and_snapshot_listings(sp_sim):
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    ok(sp_sim, "POST", "VolumeSnapshot/v", {"name": "s"})
    ok(sp_sim, "POST", "VolumeCreate", {"name": "c", "parent": "s"})
    ok(sp_sim, "GET", "VolumesList"), ok(sp_sim, "GET", "SnapshotsList")  # fill the listing caches
    ok(sp_sim, "POST", "VolumeUpdate/v", {"rename": "v2"})
    ok(sp_sim, "POST", "SnapshotUpdate/s", {"rename": "s2"})
    assert {v["name"]: v["parentName"] for v in ok(sp_sim, "GET", "VolumesList")} == {"v2": "s2", "c": "s2"}
    assert [(s["name"], s["onVolume"]) for s in ok(sp_sim, "GET", "SnapshotsList")] == [("s2", "v2")]
    ok(sp_sim, "POST", "VolumeFreeze/v2")
    assert {s["name"]: s["onVolume"] for s in ok(sp_sim, "GET", "SnapshotsList")} == {"s2": "-", "v2": "-"}
    assert [v["name"] for v in ok(sp_sim, "GET", "VolumesList")] == ["c"]

"""The official StorPool bindings (PyPI ``storpool``) against the emulator, unchanged.

The bindings quietly accept partial objects when a response does not match their types,
so every answer here is re-checked strictly with the call's own return type (``strict``):
a missing or mistyped field fails the test. If the bindings reject a response, the
emulator is wrong.
"""

from __future__ import annotations

import pytest

spapi = pytest.importorskip("storpool.spapi")
from storpool.spcatch import InvalidArgumentError  # noqa: E402
from storpool.spconfig import SPConfig  # noqa: E402

from onesp.sim.storpool import StorPoolSim  # noqa: E402

GIB = 1 << 30


def strict(method, *args):
    """Call through the bindings and validate the raw answer with the call's return type."""
    raw = method(*args, returnRawAPIData=True)
    try:
        return method.__globals__["returns"](raw)
    except InvalidArgumentError as exc:  # pragma: no cover - the message is the diagnosis
        pytest.fail("the bindings reject the emulator's answer: %s" % exc)


def api_for(env, **kwargs):
    return spapi.Api(host=env["SP_API_HTTP_HOST"], port=int(env["SP_API_HTTP_PORT"]),
                     auth=env["SP_AUTH_TOKEN"], transientRetries=0, **kwargs)


@pytest.fixture
def api(sp_sim):
    return api_for(sp_sim.env)


def error_of(call, *args):
    with pytest.raises(spapi.ApiError) as info:
        call(*args)
    return info.value


def test_config_comes_from_the_environment(sp_sim, monkeypatch):
    for key, value in sp_sim.env.items():
        monkeypatch.setenv(key, value)
    api = spapi.Api.fromConfig(cfg=SPConfig(missing_ok=True), transientRetries=0)
    status = strict(api.servicesList)
    assert status.clusterStatus == "running"
    assert sorted(status.clients) == list(range(1, 17))
    assert all(c.status == "running" for c in status.clients.values())


def test_volume_calls(api):
    strict(api.volumeTemplateCreate, {"name": "one-ds-100", "replication": 2, "placeAll": "hdd", "placeTail": "ssd"})
    created = strict(api.volumeCreate, {"name": "one-img-1", "size": GIB, "template": "one-ds-100",
                                        "tags": {"virt": "one", "type": "OS"}, "iops": 1000, "bw": "-"})
    assert created.ok and created.globalId
    [vol] = strict(api.volumeList, "one-img-1")
    assert (vol.size, vol.templateName, vol.replication, vol.placeTail) == (GIB, "one-ds-100", 2, "ssd")
    assert (vol.iops, vol.bw, vol.tags) == (1000, "-", {"virt": "one", "type": "OS"})
    assert [v.name for v in strict(api.volumesList)] == ["one-img-1"]
    assert strict(api.volumeDescribe, "one-img-1").objects
    assert strict(api.volumeInfo, "one-img-1").globalId == created.globalId
    assert strict(api.volumeList, "~" + created.globalId)[0].name == "one-img-1"

    strict(api.volumeUpdate, "one-img-1", {"size": 2 * GIB})
    strict(api.volumeUpdate, "one-img-1", {"sizeAdd": GIB, "tags": {"type": "", "nvm": "7"}, "iops": "-"})
    strict(api.volumeUpdate, "one-img-1", {"rename": "one-img-2"})
    [vol] = strict(api.volumeList, "one-img-2")
    assert (vol.size, vol.tags, vol.iops, vol.globalId) == (3 * GIB, {"virt": "one", "nvm": "7"}, "-", created.globalId)
    assert error_of(api.volumeUpdate, "one-img-2", {"size": GIB}).name == "invalidParam"
    strict(api.volumeUpdate, "one-img-2", {"size": GIB, "shrinkOk": True})

    status = strict(api.volumesStatus)
    assert status["one-img-2"].status == "up" and status["one-img-2"].storedSize == 0
    assert strict(api.volumesQuickStatus)["one-img-2"].snapshot is False
    [space] = strict(api.volumesSpace)
    assert (space.name, space.storedSize, space.spaceUsed) == ("one-img-2", 0, 0)


def test_snapshot_calls(api):
    strict(api.volumeCreate, {"name": "vol", "size": GIB})
    named = strict(api.snapshotCreate, "vol", {"name": "vol-snap0", "tags": {"k": "v"}})
    assert named.snapshotGlobalId and named.autoName is None
    auto = strict(api.snapshotCreate, "vol", {"deleteAfter": 3600})
    assert auto.autoName == "vol@%d" % auto.snapshotVisibleVolumeId
    bound = strict(api.snapshotCreate, "vol", {"name": "vol-bound", "bind": True})
    assert bound.ok

    by_name = {s.name: s for s in strict(api.snapshotsList)}
    assert by_name["vol-snap0"].onVolume == "vol" and by_name["vol-snap0"].tags == {"k": "v"}
    assert by_name[auto.autoName].autoName is True and by_name[auto.autoName].targetDeleteDate > 0
    assert [s.name for s in strict(api.volumeListSnapshots, "vol")] == ["vol-bound", auto.autoName, "vol-snap0"]
    assert strict(api.snapshotList, "vol-snap0")[0].parentName == ""
    assert strict(api.snapshotDescribe, "vol-snap0").name == "vol-snap0"
    assert strict(api.snapshotInfo, "vol-snap0").size == GIB
    assert {s.name for s in strict(api.snapshotsSpace)} == set(by_name)

    strict(api.snapshotUpdate, "vol-snap0", {"rename": "gold", "tags": {"k": "", "a": "b"}, "deleteAfter": 0})
    [gold] = strict(api.snapshotList, "gold")
    assert gold.tags == {"a": "b"} and gold.targetDeleteDate == 0

    clone = strict(api.volumeCreate, {"name": "clone", "parent": "gold"})
    assert strict(api.volumeList, "clone")[0].parentName == "gold" and clone.autoName is None
    copy = strict(api.volumeCreate, {"name": "copy", "baseOn": "vol"})
    assert copy.autoName.startswith("vol@")
    assert strict(api.volumeList, "copy")[0].parentName == "vol-bound"  # transient snapshot collected

    group = strict(api.snapshotCreateGroup, {"volumes": [{"volume": "vol", "name": "vol-g"},
                                                          {"volume": "clone", "name": "clone-g"}],
                                              "tags": {"nvm": "1"}})
    assert [(s.volume, s.snapshot) for s in group.snapshots] == [("vol", "vol-g"), ("clone", "clone-g")]

    strict(api.volumeRevert, "vol", {"toSnapshot": "gold"})
    assert strict(api.volumeList, "vol")[0].parentName == "gold"
    strict(api.volumeRebase, "clone", {"parentName": "gold"})
    strict(api.volumeRebase, "clone", {})
    assert strict(api.volumeList, "clone")[0].parentName == ""
    strict(api.snapshotRebase, "clone-g", {})

    strict(api.snapshotDelete, "gold")  # still has a child: pending delete, collected at once
    assert "gold" not in {s.name for s in strict(api.snapshotsList)}
    strict(api.snapshotDeleteById, strict(api.snapshotList, "clone-g")[0].globalId)
    strict(api.volumeFreeze, "clone")
    assert strict(api.snapshotList, "clone")[0].globalId == clone.globalId
    strict(api.volumeDelete, "copy")


def test_attachment_calls(api, sp_sim):
    strict(api.volumeCreate, {"name": "vol", "size": GIB})
    strict(api.snapshotCreate, "vol", {"name": "snap"})
    strict(api.volumesReassignWait, {"reassign": [{"volume": "vol", "rw": [11, 12]},
                                                  {"snapshot": "snap", "ro": [11]}], "attachTimeout": 10})
    listed = {(a.volume, a.client): a for a in strict(api.attachmentsList)}
    assert sorted(listed) == [("snap", 11), ("vol", 11), ("vol", 12)]
    assert listed[("snap", 11)].snapshot is True and listed[("snap", 11)].rights == "ro"
    assert listed[("vol", 11)].pos == 0 and listed[("snap", 11)].pos == 1
    assert (sp_sim.dev_dir / "vol").exists() and (sp_sim.byid_dir / listed[("vol", 12)].globalId).exists()

    strict(api.volumesReassign, [{"volume": "vol", "detach": [12]}, {"snapshot": "snap", "detach": "all"}])
    assert [(a.volume, a.client) for a in strict(api.attachmentsList)] == [("vol", 11)]
    assert not (sp_sim.dev_dir / "snap").exists()

    assert error_of(api.volumeDelete, "vol").name == "busy"
    sp_sim.ctl.set_open("vol", 11)
    err = error_of(api.volumesReassignWait, {"reassign": [{"volume": "vol", "detach": "all"}]})
    assert err.name == "busy" and "open at client 11" in err.desc
    strict(api.volumesReassignWait, {"reassign": [{"volume": "vol", "detach": "all", "force": True}]})
    assert strict(api.attachmentsList) == [] and not (sp_sim.dev_dir / "vol").exists()

    err = error_of(api.volumesReassignWait, {"reassign": [{"volume": "vol", "rw": [100]}]})
    assert err.name == "invalidParam" and "No such client registered" in err.desc
    assert error_of(api.volumesReassign, [{"volume": "nope", "rw": [1]}]).name == "objectDoesNotExist"


def test_template_and_placement_calls(api):
    strict(api.placementGroupUpdate, "nvme", {"addDisks": [301, 302], "rmDisks": []})
    assert sorted(strict(api.placementGroupDescribe, "nvme").disks) == [301, 302]
    assert {"default", "hdd", "ssd", "nvme"} <= set(strict(api.placementGroupsList))

    strict(api.volumeTemplateCreate, {"name": "t1", "placeAll": "nvme", "replication": 1, "size": GIB})
    tpl = strict(api.volumeTemplateDescribe, "t1")
    assert (tpl.placeTail, tpl.placeHead, tpl.size, tpl.replication, tpl.iops) == ("nvme", "nvme", GIB, 1, "-")
    strict(api.volumeCreate, {"name": "v", "template": "t1"})
    strict(api.volumeTemplateUpdate, "t1", {"replication": 2, "propagate": True})
    assert strict(api.volumeList, "v")[0].replication == 2
    [status] = [s for s in strict(api.volumeTemplatesStatus) if s.name == "t1"]
    assert (status.volumesCount, status.size, status.totalSize) == (1, GIB, 2 * GIB)
    assert status.stored.capacity == 2 * (1 << 40) // 2 and status.stored.free == status.stored.capacity
    assert [t.name for t in strict(api.volumeTemplatesList)] == ["t1"]

    assert error_of(api.volumeTemplateDelete, "t1").name == "busy"
    assert error_of(api.placementGroupDelete, "nvme").name == "busy"
    strict(api.volumeDelete, "v")
    strict(api.volumeTemplateDelete, "t1")
    strict(api.placementGroupDelete, "nvme")
    assert strict(api.volumeTemplatesList) == []


def test_client_calls(api):
    dump = strict(api.clientsConfigDump)
    assert [c.id for c in dump] == list(range(1, 17)) and all(c.configStatus == "ok" for c in dump)
    [one] = strict(api.clientConfigWait, 5)
    assert one.id == 5 and one.generation == one.clientGeneration


def test_remote_backup_calls(tmp_path):
    store = tmp_path / "store"
    site_a = StorPoolSim(tmp_path / "a", tmp_path / "a-dev", token="1", cluster_id="aa.a",
                         locations={"siteb": store})
    site_b = StorPoolSim(tmp_path / "b", tmp_path / "b-dev", token="2", cluster_id="bb.a",
                         locations={"sitea": store})
    with site_a, site_b:
        a, b = api_for(site_a.env), api_for(site_b.env)
        assert [loc.name for loc in strict(a.locationsList)["locations"]] == ["siteb"]
        strict(a.volumeCreate, {"name": "disk", "size": GIB})
        backup = strict(a.volumeBackup, {"volume": "disk", "location": "siteb", "tags": {"del": "y"}})
        assert backup.remoteId and backup.autoName.startswith("disk@")
        group = strict(a.volumesGroupBackup, {"location": "siteb", "volumes": ["disk"]})
        assert group.backups["disk"].remoteId
        remote = strict(b.snapshotsRemoteList)["snapshots"]
        assert {r.remoteId for r in remote} == {backup.remoteId, group.backups["disk"].remoteId}
        strict(b.volumeFromRemote, {"remoteLocation": "sitea", "remoteId": backup.remoteId, "name": "restored"})
        assert strict(b.volumeList, "restored")[0].size == GIB
        strict(b.snapshotFromRemote, {"remoteLocation": "sitea", "remoteId": backup.remoteId})
        assert error_of(a.volumeBackup, {"volume": "disk", "location": "nowhere"}).name == "objectDoesNotExist"


def test_error_cases(api, sp_sim):
    strict(api.volumeCreate, {"name": "a", "size": GIB})
    strict(api.snapshotCreate, "a", {"name": "s"})
    assert error_of(api.volumeList, "missing").name == "objectDoesNotExist"
    assert error_of(api.volumeDelete, "missing").name == "objectDoesNotExist"
    assert error_of(api.snapshotDelete, "a").name == "objectDoesNotExist"  # a volume, not a snapshot
    assert error_of(api.volumeCreate, {"name": "a", "size": GIB}).name == "objectExists"
    assert error_of(api.volumeCreate, {"name": "s", "size": GIB}).name == "objectExists"  # shared namespace
    assert error_of(api.volumeCreate, {"name": "b", "size": GIB, "template": "none"}).name == "objectDoesNotExist"
    assert error_of(api.volumeCreate, {"name": "b", "parent": "none"}).name == "objectDoesNotExist"
    assert error_of(api.volumeUpdate, "a", {"rename": "s"}).name == "objectExists"
    sp_sim.ctl.config(max_provisioned=2 * GIB)
    assert error_of(api.volumeCreate, {"name": "big", "size": 2 * GIB}).name == "insufficientResources"

    wrong = spapi.Api(host=sp_sim.env["SP_API_HTTP_HOST"], port=int(sp_sim.env["SP_API_HTTP_PORT"]),
                      auth="wrong", transientRetries=0)
    err = error_of(wrong.volumesList)
    assert (err.name, err.status) == ("authenticationFailed", 401)


def test_transient_errors_are_retried_by_the_bindings(sp_sim):
    api = api_for(sp_sim.env)
    retrying = spapi.Api(host=api._host, port=api._port, auth=sp_sim.env["SP_AUTH_TOKEN"],
                         transientRetries=3, transientSleep=lambda retry: 0)
    sp_sim.ctl.inject_fault("VolumeCreate", error="busy", transient=True, count=2)
    assert strict(retrying.volumeCreate, {"name": "v", "size": GIB}).ok
    sp_sim.ctl.inject_fault("VolumesList", error="connectionReset", count=1)
    assert [v.name for v in strict(retrying.volumesList)] == ["v"]
    assert sp_sim.ctl.counts()["VolumeCreate"] == 3

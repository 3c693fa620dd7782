"""Pure parts of the StorPool emulator: validation, path routing, fault rules, encoding."""

from __future__ import annotations

import json

import pytest

from onesp.sim.storpool import validate as v
from onesp.sim.storpool.apierror import SimApiError
from onesp.sim.storpool.command import parse_clients, parse_listen
from onesp.sim.storpool.faults import FaultBook
from onesp.sim.storpool.routes import object_names, parse_path
from onesp.sim.storpool.state import base36


def name_of(exc_info):
    return exc_info.value.name


@pytest.mark.parametrize("name", ["one-img-5", "#hidden", "a.b:c_d-e", "x" * 199])
def test_volume_names_accepted(name):
    assert v.volume_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "a/b", "snap@1", "*x", "list", "status", "x" * 200, 5, None])
def test_volume_names_refused(name):
    with pytest.raises(SimApiError) as info:
        v.volume_name(name)
    assert name_of(info) == "invalidParam"


def test_references_and_snapshot_names():
    assert v.object_ref("~emu.a.1z") == "~emu.a.1z"
    assert v.object_ref("vol@12", "snapshot") == "vol@12"
    with pytest.raises(SimApiError):
        v.object_ref("vol@12")  # "@" is not in volume names
    with pytest.raises(SimApiError):
        v.object_ref("~Emu.a.1")
    assert v.template_name("one-ds-100") == "one-ds-100"
    with pytest.raises(SimApiError):
        v.template_name("one.ds")


def test_sizes_limits_and_clients():
    assert v.size(1 << 20) == 1 << 20
    for bad in (0, 1000, -512, "1024", True, 1.5):
        with pytest.raises(SimApiError):
            v.size(bad)
    assert v.limit("-", "iops") == "-" and v.limit(0, "bw") == 0
    with pytest.raises(SimApiError):
        v.limit(-1, "bw")
    assert v.client_list(["12", 13], "rw") == [12, 13]
    for bad in ("x", 0, 4096, True, "1.5", None):
        with pytest.raises(SimApiError):
            v.client_id(bad)


def test_tags_and_the_name_budget():
    assert v.tags({"virt": "one", "nvm": ""}) == {"virt": "one", "nvm": ""}
    with pytest.raises(SimApiError):
        v.tags({"bad key": "x"})
    with pytest.raises(SimApiError):
        v.tags({"k": "bad value"})
    v.name_with_tags("n" * 100, {"k" * 49: "v" * 49})  # 100 + 49 + 1 + 49 = 199
    with pytest.raises(SimApiError):
        v.name_with_tags("n" * 100, {"k" * 50: "v" * 50})


def test_unknown_fields_are_refused():
    assert v.body_dict(None, "X", ()) == {}
    assert v.body_dict({"a": 1, "b": None}, "X", ("a", "b")) == {"a": 1}
    with pytest.raises(SimApiError) as info:
        v.body_dict({"a": 1, "zz": 2}, "X", ("a",))
    assert "zz" in info.value.descr
    with pytest.raises(SimApiError):
        v.body_dict([1], "X", ("a",))


def test_paths_map_to_calls():
    assert parse_path("/ctrl/1.0/VolumesList", "c", "emu.a") == ("VolumesList", [], None)
    assert parse_path("/ctrl/1.0/MultiCluster/Volume/a%3Ab", "c", "emu.a") == ("Volume", ["a:b"], None)
    assert parse_path("/ctrl/1.0/RemoteCommand/~emu.a/Volume/x", "c", "emu.a")[:2] == ("Volume", ["x"])
    call, _, query = parse_path("/ctrl/1.0/VolumesList?json=%7B%7D", "c", "emu.a")
    assert query == "{}"
    for path, status in (("/ctrl/1.0/Nope", 404), ("/ctrl/1.0/Volume", 404), ("/other", 404),
                         ("/ctrl/1.0/Volume/a/b", 404)):
        with pytest.raises(SimApiError) as info:
            parse_path(path, "c", "emu.a")
        assert info.value.status == status
    with pytest.raises(SimApiError) as info:
        parse_path("/ctrl/1.0/RemoteCommand/elsewhere/VolumesList", "c", "emu.a")
    assert info.value.name == "objectDoesNotExist"


def test_object_names_for_log_and_matching():
    assert object_names("VolumeDelete", ["v"], None) == ["v"]
    assert object_names("VolumeCreate", [], {"name": "n", "size": 1}) == ["n"]
    assert object_names("VolumesReassignWait", [], {"reassign": [{"volume": "a"}, {"snapshot": "s"}]}) == ["a", "s"]
    assert object_names("VolumesReassign", [], [{"volume": "a"}, "junk"]) == ["a"]
    assert object_names("VolumesGroupSnapshot", [], {"volumes": [{"volume": "a", "name": "b"}]}) == ["a"]
    assert object_names("VolumesList", [], None) == []


def test_fault_rules_count_down_and_match():
    book = FaultBook()
    book.add_fault({"call": "VolumeCreate", "error": "busy", "count": 2, "match": "a"})
    book.add_fault({"call": "*", "error": "objectExists", "when": "after", "count": -1})
    assert book.take("VolumeCreate", ["b"], "before") is None
    assert book.take("VolumeCreate", ["a"], "before").name == "busy"
    assert book.take("VolumeCreate", ["a"], "before").name == "busy"
    assert book.take("VolumeCreate", ["a"], "before") is None
    for _ in range(3):
        assert book.take("VolumesList", [], "after").name == "objectExists"
    for bad in ({"call": ""}, {"call": "X", "when": "during"}, {"call": "X", "count": 0}, {"call": "X", "zz": 1}):
        with pytest.raises(SimApiError):
            book.add_fault(bad)


def test_latency_adds_up():
    book = FaultBook()
    book.set_latency("VolumesList", 50)
    book.set_latency("*", 10)
    assert book.delay("VolumesList") == pytest.approx(0.06) and book.delay("Volume") == pytest.approx(0.01)
    book.set_latency("*", 0)
    assert book.delay("Volume") == 0


def test_cli_value_parsers():
    assert parse_clients("1-3,5") == [1, 2, 3, 5]
    assert parse_listen("127.0.0.1:81") == ("127.0.0.1", 81)
    assert base36(0) == "0" and base36(36) == "10" and base36(1295) == "zz"


def test_error_envelope_shape():
    err = SimApiError("busy", "volume is open", transient=True)
    assert json.loads(json.dumps(err.to_json())) == {
        "error": {"name": "busy", "descr": "volume is open", "transient": True}}

"""naming: builders, exact parsers, validation, tags."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onesp.runtime import naming, tagging
from onesp.runtime.errors import BadInput

N = naming.Names("one")
ids = st.integers(min_value=0, max_value=2**31 - 1)


def test_addon_convention_names():
    assert N.template(100) == "one-ds-100"
    assert N.image(5) == "one-img-5"
    assert N.source(100, 5) == "one-ds-100/one-img-5"
    assert N.nonpersistent(5, 7, 0) == "one-img-5-7-0"
    assert N.volatile(7, 2) == "one-sys-7-2-raw"
    assert N.volatile(7, 2, "qcow2") == "one-sys-7-2-qcow2"
    assert N.swap(7, 3) == "one-sys-7-3-swap"
    assert N.context(7, 4) == "one-sys-7-4-iso"
    assert N.nvram(7) == "one-sys-7-NVRAM"
    assert N.disk_snapshot("one-img-5-7-0", 3) == "one-img-5-7-0-snap3"
    assert N.vm_snapshot("one-sys-7-2-raw", 1, 1700000000) == "one-sys-7-2-raw-ONESNAP-1-1700000000"
    assert N.vm_snapshot_id(1, 1700000000) == "ONESNAP-1-1700000000"
    assert N.per_vm("one-img-5", 7, 0) == "one-img-5-7-0"
    assert N.vm_snapshot_of("one-img-5", "ONESNAP-1-1700000000") == "one-img-5-ONESNAP-1-1700000000"


def test_disk_snapshot_split_and_bases():
    """The monitor's fast path: one split per snapshot name, the volume checked once."""
    assert N.split_disk_snapshot("one-img-10-snap3") == ("one-img-10", 3)
    assert N.split_disk_snapshot("one-img-10-snapx") is None
    assert N.split_disk_snapshot("one-img-10") is None
    assert N.has_disk_snapshots("one-img-10") and N.has_disk_snapshots("one-sys-7-2-raw")
    assert not N.has_disk_snapshots("other-img-10")
    with pytest.raises(BadInput):
        N.per_vm("bad name", 7, 0)


def test_staging_name_matches_the_addon():
    # md5 of "one-img-12\n", as the bash addon computes it with md5sum
    import hashlib

    assert N.staging(12) == "one-img-12-" + hashlib.md5(b"one-img-12\n").hexdigest()
    assert N.parse(N.staging(12)).kind == "staging"
    assert N.parse("one-img-12-" + "0" * 32) is None  # not the right digest: not ours


@pytest.mark.parametrize(
    "name, kind, fields",
    [
        ("one-img-5", "image", {"image_id": 5}),
        ("one-img-5-7-0", "nonpersistent", {"image_id": 5, "vm_id": 7, "disk_id": 0}),
        ("one-sys-7-1-raw", "volatile", {"vm_id": 7, "disk_id": 1, "fmt": "raw"}),
        ("one-sys-7-1-swap", "swap", {"vm_id": 7, "disk_id": 1}),
        ("one-sys-7-4-iso", "context", {"vm_id": 7, "disk_id": 4}),
        ("one-sys-7-NVRAM", "nvram", {"vm_id": 7}),
        ("one-img-5-snap2", "disk_snapshot", {"image_id": 5, "snap_id": 2, "volume": "one-img-5"}),
        ("one-img-5-7-0-snap2", "disk_snapshot", {"vm_id": 7, "disk_id": 0, "snap_id": 2}),
        ("one-sys-7-1-raw-ONESNAP-3-1700000000", "vm_snapshot", {"vm_id": 7, "disk_id": 1, "snap_id": 3}),
    ],
)
def test_parse_exact(name, kind, fields):
    parsed = N.parse(name)
    assert parsed is not None and parsed.kind == kind
    for key, value in fields.items():
        assert getattr(parsed, key) == value


@pytest.mark.parametrize("name", ["xone-img-5", "one-img-5x", "one-img-", "two-img-5", "one-img-5-snap", "one-sys-7-1",
                                  "one-img-5-7", "one-ds-1", "~abc.def.ghi", "one-img-5-7-0-ONESNAP-1"])
def test_foreign_names_are_not_ours(name):
    assert N.parse(name) is None


def test_prefix_sharing_instances_do_not_match():
    other = naming.Names("xone")
    assert other.parse("one-img-5") is None
    assert N.parse("xone-img-5") is None
    assert N.parse("xone-img-5-snap0") is None


@given(ids, ids, ids)
def test_roundtrip_nonpersistent(img, vm, disk):
    parsed = N.parse(N.nonpersistent(img, vm, disk))
    assert (parsed.kind, parsed.image_id, parsed.vm_id, parsed.disk_id) == ("nonpersistent", img, vm, disk)


@given(ids, st.integers(0, 99), st.integers(0, 99))
def test_disk_one_is_never_disk_ten(vm, disk_a, disk_b):
    """The addon deletes disks 10-19 when asked for disk 1; matching here is exact."""
    a, b = N.volatile(vm, disk_a), N.volatile(vm, disk_b)
    assert (N.parse(a).disk_id == N.parse(b).disk_id) == (disk_a == disk_b)
    assert (N.parse(N.disk_snapshot(a, 0)).volume == b) == (disk_a == disk_b)


def test_snapshot_ownership_is_exact():
    parsed = N.parse("one-img-1-snap0")
    assert (parsed.kind, parsed.volume, parsed.snap_id) == ("disk_snapshot", "one-img-1", 0)
    assert N.parse("one-img-10-snap0").volume == "one-img-10"
    assert N.split_disk_snapshot("one-img-10-snap0") == ("one-img-10", 0)
    parsed = N.parse("one-img-1-7-0-ONESNAP-2-17")
    assert (parsed.kind, parsed.volume, parsed.snap_id, parsed.timestamp) == ("vm_snapshot", "one-img-1-7-0", 2, 17)
    assert N.parse("one-img-1-7-01-ONESNAP-2-17").volume == "one-img-1-7-01"


@pytest.mark.parametrize("hostile", ["a;b", "$(id)", "`id`", "a b", "a\nb", "../x", "a/b", "", "list", "x" * 200, "é"])
def test_hostile_names_rejected(hostile):
    with pytest.raises(BadInput):
        naming.check_volume_name(hostile)


@pytest.mark.parametrize("bad", [-1, "5;rm", "1e3", "", None, True, 2**31, " 5", "٣"])
def test_ids_must_be_plain_non_negative_integers(bad):
    with pytest.raises(BadInput):
        N.image(bad)


def test_volume_from_source():
    assert N.volume_from_source("one-ds-100/one-img-5") == "one-img-5"
    assert N.volume_from_source("one-img-5") == "one-img-5"
    assert N.volume_from_source("frontend:one-ds-100/one-img-5") == "one-img-5"
    with pytest.raises(BadInput):
        N.volume_from_source("one-ds-1/one-img-5;reboot")


def test_prefix_validation():
    with pytest.raises(BadInput):
        naming.Names("one.x")
    with pytest.raises(BadInput):
        naming.Names("")


def test_tags():
    policy = tagging.TagPolicy("nloc", "one", "nvm")
    assert policy.vm_disk(7, 0, "NPERS", "gold", "daily") == {
        "virt": "one", "nloc": "one", "nvm": "7", "diskid": "0", "type": "NPERS", "qc": "gold", "vc-policy": "daily"}
    assert policy.vm_disk(7) == {"virt": "one", "nloc": "one", "nvm": "7"}
    released = policy.released()
    assert released["nvm"] == "" and released["type"] == "" and released["virt"] == "one"
    with pytest.raises(BadInput):
        policy.vm_disk(7, 0, qos_class="gold;rm -rf")
    with pytest.raises(BadInput):
        policy.vm_disk(7, 0, disk_type="BOGUS")
    assert policy.image("gold") == {"virt": "one", "nloc": "one", "qc": "gold"}
    assert policy.image(None) == {"virt": "one", "nloc": "one"}
    assert policy.image(None, clear_empty=True) == {"virt": "one", "nloc": "one", "qc": ""}
    assert policy.owner(7, 0) == {"nvm": "7", "diskid": "0"}
    assert policy.owner(7, disk_type="NVRAM") == {"nvm": "7", "type": "NVRAM"}
    assert policy.is_other_instance({"virt": "one", "nloc": "other"})
    assert not policy.is_other_instance({"virt": "one", "nloc": "one"})
    assert not policy.is_other_instance({"virt": "one"}) and not policy.is_other_instance({"nloc": "other"})


def test_qos_precedence_and_vm_string():
    assert tagging.qos_class(None, "", " silver ", "gold") == "silver"
    assert tagging.qos_class(None, "") is None
    assert tagging.vm_qos_classes("tier1;0:tier2; 3:tier3") == ("tier1", {0: "tier2", 3: "tier3"})
    assert tagging.vm_qos_classes("") == (None, {})
    with pytest.raises(BadInput):
        tagging.vm_qos_classes("x:tier")


@pytest.mark.parametrize("text, seconds", [("", 0), ("30", 30), ("30s", 30), ("5m", 300), ("48h", 172800), ("2d", 172800)])
def test_parse_delay(text, seconds):
    assert naming.parse_delay(text) == seconds


@pytest.mark.parametrize("text", ["48x", "h", "-1h", "1.5h", "48 h"])
def test_parse_delay_rejects(text):
    with pytest.raises(ValueError):
        naming.parse_delay(text)

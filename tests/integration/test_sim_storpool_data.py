"""Real bytes through the emulator's device paths: snapshot, clone, revert, rename, resize."""

from __future__ import annotations

import os

import pytest

MIB = 1 << 20


def ok(sp_sim, method, call, body=None):
    resp = sp_sim.api(method, call, body)
    assert resp.ok, resp.body
    return resp.data


def attach(sp_sim, name, client=1, kind="volume", rights="rw"):
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{kind: name, rights: [str(client)]}]})


def detach(sp_sim, name, kind="volume"):
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{kind: name, "detach": "all", "force": True}]})


def write_at(path, offset, data):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def read_at(path, offset, length):
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def test_bytes_survive_snapshot_clone_revert_rename(sp_sim):
    dev = sp_sim.dev_dir
    ok(sp_sim, "POST", "VolumeCreate", {"name": "disk", "size": 64 * MIB})
    attach(sp_sim, "disk")
    assert os.path.getsize(dev / "disk") == 64 * MIB
    write_at(dev / "disk", 0, b"A" * 4096)
    write_at(dev / "disk", 40 * MIB, b"tail-one")
    ok(sp_sim, "POST", "VolumeSnapshot/disk", {"name": "disk-snap0"})
    write_at(dev / "disk", 0, b"B" * 4096)  # after the snapshot: must not leak into it

    ok(sp_sim, "POST", "VolumeCreate", {"name": "clone", "parent": "disk-snap0", "size": 128 * MIB})
    attach(sp_sim, "clone", client=2)
    assert read_at(dev / "clone", 0, 4096) == b"A" * 4096
    assert read_at(dev / "clone", 40 * MIB, 8) == b"tail-one"
    assert os.path.getsize(dev / "clone") == 128 * MIB
    assert read_at(dev / "clone", 100 * MIB, 16) == bytes(16)

    detach(sp_sim, "disk")
    ok(sp_sim, "POST", "VolumeRevert/disk", {"toSnapshot": "disk-snap0"})
    ok(sp_sim, "POST", "VolumeUpdate/disk", {"rename": "renamed"})
    attach(sp_sim, "renamed")
    assert not (dev / "disk").exists()
    assert read_at(dev / "renamed", 0, 4096) == b"A" * 4096
    assert read_at(dev / "renamed", 40 * MIB, 8) == b"tail-one"

    state = sp_sim.ctl.state(with_bytes=True)
    assert state["volumes"]["renamed"]["digest"] == state["snapshots"]["disk-snap0"]["digest"]
    assert state["volumes"]["clone"]["digest"] != state["volumes"]["renamed"]["digest"]  # sizes differ


def test_baseon_clone_copies_the_live_volume(sp_sim):
    dev = sp_sim.dev_dir
    ok(sp_sim, "POST", "VolumeCreate", {"name": "src", "size": 8 * MIB})
    attach(sp_sim, "src")
    write_at(dev / "src", MIB, b"live data")
    created = ok(sp_sim, "POST", "VolumeCreate", {"name": "copy", "baseOn": "src"})
    assert created["autoName"].startswith("src@")
    attach(sp_sim, "copy")
    assert read_at(dev / "copy", MIB, 9) == b"live data"
    write_at(dev / "copy", MIB, b"copy data")
    assert read_at(dev / "src", MIB, 9) == b"live data"


def test_resize_keeps_bytes_and_device_size(sp_sim):
    dev = sp_sim.dev_dir
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": 4 * MIB})
    attach(sp_sim, "v")
    write_at(dev / "v", 0, b"head")
    write_at(dev / "v", 3 * MIB, b"end")
    ok(sp_sim, "POST", "VolumeUpdate/v", {"sizeAdd": 4 * MIB})  # online grow
    assert os.path.getsize(dev / "v") == 8 * MIB
    assert read_at(dev / "v", 0, 4) == b"head" and read_at(dev / "v", 3 * MIB, 3) == b"end"
    ok(sp_sim, "POST", "VolumeUpdate/v", {"size": 2 * MIB, "shrinkOk": True})
    assert os.path.getsize(dev / "v") == 2 * MIB
    assert read_at(dev / "v", 0, 4) == b"head"


def test_devices_by_name_and_by_global_id(sp_sim):
    created = ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    gid = created["globalId"]
    attach(sp_sim, "v", client=3)
    attach(sp_sim, "v", client=4)  # rw on two clients at once (live migration)
    byid = sp_sim.byid_dir / gid
    write_at(byid, 0, b"via byid")
    assert read_at(sp_sim.dev_dir / "v", 0, 8) == b"via byid"
    ok(sp_sim, "POST", "VolumeUpdate/v", {"rename": "w"})
    assert (sp_sim.dev_dir / "w").exists() and not (sp_sim.dev_dir / "v").exists() and byid.exists()
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{"volume": "w", "detach": [3]}]})
    assert byid.exists()  # still attached to client 4
    ok(sp_sim, "POST", "VolumesReassignWait", {"reassign": [{"volume": "w", "detach": ["4"]}]})
    assert not byid.exists() and not (sp_sim.dev_dir / "w").exists()


def test_snapshots_are_read_only_and_freeze_keeps_bytes(sp_sim):
    dev = sp_sim.dev_dir
    ok(sp_sim, "POST", "VolumeCreate", {"name": "v", "size": MIB})
    attach(sp_sim, "v")
    write_at(dev / "v", 0, b"frozen")
    ok(sp_sim, "POST", "VolumeSnapshot/v", {"name": "s"})
    attach(sp_sim, "s", kind="snapshot", rights="ro")
    assert read_at(dev / "s", 0, 6) == b"frozen"
    assert os.stat(dev / "s").st_mode & 0o222 == 0
    ok(sp_sim, "POST", "VolumeCreate", {"name": "never-written", "size": MIB})
    ok(sp_sim, "POST", "VolumeSnapshot/never-written", {"name": "empty-snap"})
    attach(sp_sim, "empty-snap", kind="snapshot", rights="ro")  # its file is made on attach
    assert os.stat(dev / "empty-snap").st_mode & 0o222 == 0 and read_at(dev / "empty-snap", 0, 4) == bytes(4)
    if os.geteuid() != 0:  # root ignores file modes
        with pytest.raises(PermissionError):
            open(dev / "s", "r+b")
    detach(sp_sim, "v")
    ok(sp_sim, "POST", "VolumeFreeze/v", {})
    attach(sp_sim, "v", kind="snapshot", rights="ro")
    assert read_at(dev / "v", 0, 6) == b"frozen"


def test_sparse_files_stay_sparse(sp_sim):
    ok(sp_sim, "POST", "VolumeCreate", {"name": "big", "size": 10 << 30})
    attach(sp_sim, "big")
    write_at(sp_sim.dev_dir / "big", 5 << 30, b"x" * 4096)
    ok(sp_sim, "POST", "VolumeSnapshot/big", {"name": "big-s"})
    ok(sp_sim, "POST", "VolumeCreate", {"name": "big-c", "parent": "big-s"})
    objects = sp_sim.data_dir / "objects"
    for path in objects.iterdir():
        assert path.stat().st_blocks * 512 <= 1 << 20, path  # 10 GiB apparent, ~4 KiB real
    [space] = [v for v in ok(sp_sim, "GET", "VolumesSpace") if v["name"] == "big"]
    assert 4096 <= space["spaceUsed"] <= 1 << 20

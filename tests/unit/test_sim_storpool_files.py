"""Backing files, the SQLite store and the summary encoding of the StorPool emulator."""

from __future__ import annotations

import json
import os

from onesp.sim.storpool.data import BackingFiles, copy_file
from onesp.sim.storpool.lifecycle import take_snapshot
from onesp.sim.storpool.model import SpObject, Template
from onesp.sim.storpool.state import State
from onesp.sim.storpool.views import summary, summary_text

MIB = 1 << 20


def make_files(tmp_path):
    return BackingFiles(tmp_path / "objects", tmp_path / "dev", tmp_path / "dev-byid")


def test_sparse_copy_keeps_content_and_holes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    with open(src, "wb") as fh:
        fh.truncate(1 << 30)
        fh.seek(100 * MIB)
        fh.write(b"data" * 1024)
        fh.seek(900 * MIB)
        fh.write(bytes(MIB))  # written zeros: logical content is zeros, copy may skip them
    assert copy_file(src, dst, 1 << 30, readonly=True)
    assert os.path.getsize(dst) == 1 << 30 and os.stat(dst).st_blocks * 512 <= MIB
    with open(dst, "rb") as fh:
        fh.seek(100 * MIB)
        assert fh.read(4096) == b"data" * 1024
    assert os.stat(dst).st_mode & 0o777 == 0o444
    assert not copy_file(tmp_path / "missing", dst, MIB, readonly=False)


def test_copy_cuts_or_extends_to_the_target_size(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"x" * 8192)
    copy_file(src, dst, 4096, readonly=False)
    assert dst.read_bytes() == b"x" * 4096
    copy_file(src, dst, 16384, readonly=False)
    assert dst.read_bytes() == b"x" * 8192 + bytes(8192)


def test_digest_is_about_content_not_allocation(tmp_path):
    files = make_files(tmp_path)
    empty = files.digest("none", MIB)
    files.ensure("a", MIB)
    assert files.digest("a", MIB) == empty
    with open(files.path("a"), "r+b") as fh:
        fh.write(bytes(65536))  # explicit zeros
    assert files.digest("a", MIB) == empty
    with open(files.path("a"), "r+b") as fh:
        fh.seek(70000)
        fh.write(b"z")
    assert files.digest("a", MIB) != empty
    assert files.digest("a", 2 * MIB) != files.digest("a", MIB)


def test_exposure_links_and_restart_sync(tmp_path):
    files = make_files(tmp_path)
    files.expose("g1", "vol", MIB)
    assert os.path.realpath(tmp_path / "dev" / "vol") == str(files.path("g1"))
    assert os.path.realpath(tmp_path / "dev-byid" / "g1") == str(files.path("g1"))
    files.rename_exposed("g1", "vol", "vol2")
    assert not (tmp_path / "dev" / "vol").exists() and (tmp_path / "dev" / "vol2").exists()
    (tmp_path / "dev" / "unrelated").write_text("not ours")
    files.sync_exposure({}, {})
    assert sorted(os.listdir(tmp_path / "dev")) == ["unrelated"] and os.listdir(tmp_path / "dev-byid") == []


def test_store_round_trip_and_rollback(tmp_path):
    state = State(tmp_path, make_files(tmp_path), "emu.a", [1, 2])
    vid, gid = state.new_ids()
    vol = SpObject(gid, vid, "volume", "v", MIB, state.now())
    vol.tags = {"a": "b"}
    state.add(vol)
    state.put_template(Template(state.next_id("nextTemplateId"), "t"))
    state.commit()
    vid2, gid2 = state.new_ids()
    state.add(SpObject(gid2, vid2, "volume", "uncommitted", MIB, state.now()))
    state.rollback()
    assert sorted(state.names) == ["v"]
    state.store.close()
    again = State(tmp_path, make_files(tmp_path), "other.id", [1])
    assert again.objects[gid].tags == {"a": "b"} and "t" in again.templates
    assert again.meta["clusterId"] == "emu.a"  # ids keep the cluster they were minted in
    again.store.close()


def test_fast_summary_text_decodes_to_the_summary(tmp_path):
    state = State(tmp_path, make_files(tmp_path), "emu.a", [1])
    tpl = Template(state.next_id("nextTemplateId"), "t")
    state.put_template(tpl)
    vid, gid = state.new_ids()
    vol = SpObject(gid, vid, "volume", None, 3 * MIB, state.now())
    vol.template, vol.iops, vol.bw, vol.reuse_server, vol.tags = "t", 100, "-", True, {"k": "", "x:y": "1.2"}
    state.add(vol)
    snap = take_snapshot(state, vol, None, auto=True, tags={"s": "t"}, bind=True, delete_date=99)
    snap.backup_of = "aa.b.c"
    state.mark_deleted(snap)
    for obj in (vol, snap):
        assert json.loads(summary_text(state, obj)) == summary(state, obj)
    assert json.loads(summary_text(state, snap))["name"].startswith("*" + gid + "@")
    state.store.close()

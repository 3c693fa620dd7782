"""ds rm: the image volume (DELAY_DELETE, REMOTE_BACKUP_DELETE), exactly its snapshots, leftover staging."""

from __future__ import annotations

import hashlib
import json

MIB = 1024 * 1024
STAGING = "one-img-5-" + hashlib.md5(b"one-img-5\n").hexdigest()


def image_with_snapshots(stack, ds_template=None) -> bytes:
    xml = stack.put_image(5, persistent=True, data=b"data", state=1,
                          snapshots=[stack.b.disk_snapshot(0), stack.b.disk_snapshot(1, parent=0)])
    for snap in ("one-img-5-snap0", "one-img-5-snap1"):
        stack.sp.volume_snapshot("one-img-5", snap)
    stack.put_image(50, persistent=True)
    for volume, snap in (("one-img-50", "one-img-50-snap0"), ("one-img-5", "one-img-5-snap10")):
        stack.sp.volume_snapshot(volume, snap)
    stack.sp.volume_create("xone-img-5", size=MIB)
    stack.sp.volume_snapshot("xone-img-5", "xone-img-5-snap0")
    stack.sp.volume_create(STAGING, size=MIB)
    ds = stack.put_datastore(100, template=ds_template or {})
    return stack.ds_action(ds, xml)


def test_rm_deletes_exactly_this_image(stack):
    stdin = image_with_snapshots(stack)
    stack.sp.attach("one-img-5", 1)
    stack.ctl.reset_calls()
    r = stack.ds("rm", "5", stdin=stdin)
    assert r.ok and r.stdout == "", r
    assert stack.ctl.counts() == {"VolumesReassignWait": 4, "VolumeSnapshot": 1, "VolumeDelete": 2,
                                  "SnapshotDelete": 2}
    assert stack.volume_names() == ["one-img-50", "xone-img-5"]
    named = [s for s in stack.snapshot_names() if not s.startswith("~") and "@" not in s]
    # snapshot 10 is not in the image's list: a substring match would have taken it (and one-img-50's)
    assert named == ["one-img-5-snap10", "one-img-50-snap0", "xone-img-5-snap0"]
    delayed = [s for s in stack.sp.snapshots() if s["name"] not in named]
    assert len(delayed) == 1 and delayed[0]["targetDeleteDate"] > 0  # DELAY_DELETE (48h) keeps the data
    before = stack.state()
    again = stack.ds("rm", "5", stdin=stdin)
    assert again.ok, again
    assert stack.state() == before


def test_rm_without_delay_and_of_a_missing_image(stack):
    stdin = image_with_snapshots(stack)
    r = stack.ds("rm", stdin.decode(), "5", env={"ONESP_DELAY_DELETE": ""})
    assert r.ok, r
    assert [s for s in stack.snapshot_names() if "@" in s or s.startswith("~")] == []
    gone = stack.ds("rm", "7", stdin=stack.ds_action(image_xml=stack.b.image_xml(7)))
    assert gone.ok, gone


def test_rm_backs_up_to_the_remote_location_first(stack):
    stdin = image_with_snapshots(stack, ds_template={"REMOTE_BACKUP_DELETE": "nowhere:tag del=y"})
    r = stack.ds("rm", "5", stdin=stdin)
    assert r.code != 0 and len(r.error_lines) == 1
    assert r.error_lines[0].startswith("ds rm: delete volume one-img-5: not found:")
    assert "one-img-5" in stack.volume_names()


def remote_location(stack, tmp_path, name="clusterB"):
    """A backup location in the emulator (its store directory holds one JSON record per backup)."""
    from onesp.sim.storpool.remote import Location

    with stack.sp_sim.state.lock:
        stack.sp_sim.state.locations[name] = Location(name, tmp_path / name)
    return tmp_path / name


def test_rm_backs_up_with_the_tags_remote_backup_delete_names(stack, tmp_path):
    store = remote_location(stack, tmp_path)
    stdin = image_with_snapshots(stack, ds_template={"REMOTE_BACKUP_DELETE": "clusterB:tag del=y tag site=b"})
    r = stack.ds("rm", "5", stdin=stdin)
    assert r.ok, r
    records = [json.loads(p.read_text()) for p in store.glob("*.json")]
    assert [(rec["onVolume"], rec["tags"]) for rec in records] == [
        ("one-img-5", {"virt": "one", "nloc": "one", "del": "y", "site": "b"})]
    assert "one-img-5" not in stack.volume_names()


def test_rm_refuses_remote_backup_arguments_it_cannot_pass_before_touching_anything(stack, tmp_path):
    store = remote_location(stack, tmp_path)
    stdin = image_with_snapshots(stack, ds_template={"REMOTE_BACKUP_DELETE": "clusterB:--compress"})
    stack.sp.attach("one-img-5", 1)
    before = stack.state()
    r = stack.ds("rm", "5", stdin=stdin)
    assert r.code != 0 and r.error_lines == [
        "ds rm: configuration error: REMOTE_BACKUP_DELETE in datastore 100: cannot pass '--compress' to the "
        "backup: expected 'tag <name>=<value>'"]
    assert stack.state() == before and list(store.glob("*.json")) == []


def test_rm_ignores_a_source_naming_another_volume(stack):
    stack.put_image(9)
    xml = stack.put_image(5, source="one-ds-100/one-img-9")
    r = stack.ds("rm", "5", stdin=stack.ds_action(image_xml=xml))
    assert r.ok, r
    assert stack.volume_names() == ["one-img-9"]
    assert "not its volume one-img-5; only one-img-5 is deleted" in stack.log_text()

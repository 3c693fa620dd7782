"""ds snap_delete, snap_revert, snap_flatten on a persistent image's snapshots ``one-img-<id>-snap<N>``."""

from __future__ import annotations


def image_with_history(stack, **image) -> None:
    """one-img-5 holding "v2", with snap0 = "v0" and snap1 = "v1"; oned lists both snapshots."""
    stack.put_image(5, persistent=True, data=b"v0", snapshots=[stack.b.disk_snapshot(0),
                                                             stack.b.disk_snapshot(1, parent=0)], **image)
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap0")
    stack.write_volume("one-img-5", b"v1")
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap1")
    stack.write_volume("one-img-5", b"v2")
    stack.sp.volume_update("one-img-5", tags={"qc": "stale"})


def action(stack, target: int, **image) -> bytes:
    xml = stack.b.image_xml(5, persistent=True, target_snapshot=target, state=4, size=16,
                            snapshots=[stack.b.disk_snapshot(0), stack.b.disk_snapshot(1, parent=0)], **image)
    return stack.ds_action(image_xml=xml)


def test_snap_revert_in_place(stack):
    image_with_history(stack)
    before = stack.volume("one-img-5")
    stack.ctl.reset_calls()
    r = stack.ds("snap_revert", "5", stdin=action(stack, 0, template={"SP_QOSCLASS": "gold"}))
    assert r.ok and r.stdout == "", r
    assert stack.ctl.counts() == {"VolumeRevert": 1, "VolumeUpdate": 1}
    after = stack.volume("one-img-5")
    assert stack.read_volume("one-img-5", 2) == b"v0"
    assert (after["globalId"], after["templateName"]) == (before["globalId"], before["templateName"])
    assert after["tags"] == {"virt": "one", "nloc": "one", "qc": "gold"}
    assert stack.volume_names() == ["one-img-5"]
    assert stack.snapshot_names() == ["one-img-5-snap0", "one-img-5-snap1"]  # no temporary or delayed copy
    plain = stack.ds("snap_revert", action(stack, 1).decode(), "5")  # argv form; no class any more: qc cleared
    assert plain.ok, plain
    assert stack.read_volume("one-img-5", 2) == b"v1"
    assert stack.volume("one-img-5")["tags"] == {"virt": "one", "nloc": "one"}


def test_snap_revert_of_an_attached_image_is_busy(stack):
    image_with_history(stack)
    stack.sp.attach("one-img-5", 1)
    r = stack.ds("snap_revert", "5", stdin=action(stack, 0))
    assert r.code != 0
    assert r.error_lines == ["ds snap_revert: revert volume one-img-5 to snapshot one-img-5-snap0: busy: volume "
                             "one-img-5 is attached to a host; an image is reverted only while no VM uses it"]
    assert stack.clients_of("one-img-5") == {1: "rw"}
    assert stack.read_volume("one-img-5", 2) == b"v2"
    missing = stack.ds("snap_revert", "5", stdin=action(stack, 4))
    assert missing.error_lines[0].startswith("ds snap_revert: revert volume one-img-5 to snapshot one-img-5-snap4: "
                                             "not found:")
    none = stack.ds("snap_revert", "5", stdin=action(stack, -1))
    assert none.error_lines == ["ds snap_revert: bad input: image 5 has no TARGET_SNAPSHOT"]


def test_snap_delete(stack):
    image_with_history(stack)
    stack.put_image(50)
    stack.sp.volume_snapshot("one-img-50", "one-img-50-snap1")
    stack.ctl.reset_calls()
    r = stack.ds("snap_delete", "5", stdin=action(stack, 1))
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumesReassignWait": 1, "SnapshotDelete": 1}
    assert stack.snapshot_names() == ["one-img-5-snap0", "one-img-50-snap1"]
    assert stack.read_volume("one-img-5", 2) == b"v2"
    again = stack.ds("snap_delete", "5", stdin=action(stack, 1))
    assert again.ok, again


def test_snap_flatten_onto_an_older_snapshot(stack):
    image_with_history(stack)
    stack.put_image(50)
    stack.sp.volume_snapshot("one-img-50", "one-img-50-snap0")
    r = stack.ds("snap_flatten", "5", stdin=action(stack, 0))
    assert r.ok, r
    assert stack.read_volume("one-img-5", 2) == b"v0"
    assert stack.snapshot_names() == ["one-img-50-snap0"]
    assert stack.volume("one-img-5")["parentName"] == ""
    before = stack.state()
    again = stack.ds("snap_flatten", "5", stdin=action(stack, 0))
    assert again.ok, again
    assert stack.state() == before
    assert stack.read_volume("one-img-5", 2) == b"v0"


def test_snap_flatten_onto_the_active_snapshot_keeps_the_current_data(stack):
    """As in the addon (and OpenNebula's qcow2 model): the snapshot the volume is based on is the
    active one, whose data includes what was written since; only the snapshots go."""
    image_with_history(stack)
    stack.ctl.reset_calls()
    r = stack.ds("snap_flatten", "5", stdin=action(stack, 1))
    assert r.ok, r
    assert stack.ctl.counts() == {"Volume": 1, "VolumesReassignWait": 2, "SnapshotDelete": 2}
    assert stack.read_volume("one-img-5", 2) == b"v2"
    assert stack.snapshot_names() == []

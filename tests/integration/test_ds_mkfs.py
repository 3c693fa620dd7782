"""ds mkfs: empty raw images, filesystems made on the bridge, save-as reservations, refusals."""

from __future__ import annotations

import shutil

import pytest

MIB = 1024 * 1024


def action(stack, image_id: int = 5, ds_template=None, **image) -> bytes:
    image.setdefault("size", 10)
    xml = stack.b.image_xml(image_id, type="DATABLOCK", source="", state=4, **image)
    stack.oned.put("image", xml)
    ds = stack.put_datastore(100, template=ds_template or {})
    return stack.ds_action(ds, xml)


def test_mkfs_raw_datablock(stack):
    stdin = action(stack, ds_template={"SP_QOSCLASS": "bronze"})
    stack.ctl.reset_calls()
    r = stack.ds("mkfs", "5", stdin=stdin)
    assert r.ok, r
    assert r.stdout == "one-ds-100/one-img-5\n"
    assert stack.ctl.counts() == {"VolumeCreate": 1}
    assert stack.oned.call_log().count("one.hostpool.info") == 0
    volume = stack.volume("one-img-5")
    assert (volume["size"], volume["templateName"]) == (10 * MIB, "one-ds-100")
    assert volume["tags"] == {"virt": "one", "nloc": "one", "qc": "bronze"}
    before = stack.state()
    again = stack.ds("mkfs", stdin.decode(), "5")  # argv form; a re-run adopts what the first run made
    assert again.ok and again.stdout == r.stdout
    assert stack.state() == before


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None, reason="mkfs.ext4 is not installed")
def test_mkfs_ext4_on_the_bridge(stack):
    stack.ctl.reset_calls()
    r = stack.ds("mkfs", "5", stdin=action(stack, fs="ext4"))
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumeCreate": 1, "VolumesReassignWait": 2}
    assert stack.read_volume("one-img-5", 1082)[1080:1082] == b"\x53\xef"  # the ext2/3/4 superblock magic
    assert stack.attachments() == []


def test_mkfs_failure_removes_the_volume(stack):
    r = stack.ds("mkfs", "5", stdin=action(stack, fs="ext4"), env={"ONESP_MKFS": "false"})
    assert r.code != 0 and len(r.error_lines) == 1
    assert r.error_lines[0].startswith("ds mkfs: make a ext4 filesystem on one-img-5 on node2: host command failed:")
    assert stack.volume_names() == [] and stack.attachments() == []


def test_mkfs_save_as_reserves_only_the_source(stack):
    r = stack.ds("mkfs", "5", stdin=action(stack, format="save_as"))
    assert r.ok and r.stdout == "one-ds-100/one-img-5\n"
    assert stack.volume_names() == []


@pytest.mark.parametrize("image, expected", [
    ({"size": 0}, "bad input: invalid image SIZE 0 MB"),
    ({"fs": "ntfs"}, "bad input: filesystem ntfs is not supported; use one of ext2, ext3, ext4, xfs"),
    ({"format": "qcow2"}, "bad input: image FORMAT is qcow2; StorPool images are raw"),
    ({"template": {"DRIVER": "qcow2"}}, "bad input: image DRIVER is qcow2; StorPool images are raw"),
])
def test_mkfs_refusals(stack, image, expected):
    r = stack.ds("mkfs", "5", stdin=action(stack, **image))
    assert r.code != 0
    assert r.error_lines == ["ds mkfs: " + expected]
    assert stack.volume_names() == []


def test_mkfs_create_answer_lost_after_the_fact(stack):
    stack.ctl.inject_fault("VolumeCreate", error="busy", when="after", descr="answer lost")
    r = stack.ds("mkfs", "5", stdin=action(stack))
    assert r.code != 0 and r.error_lines == ["ds mkfs: create volume one-img-5: busy: answer lost"]
    assert stack.volume_names() == []

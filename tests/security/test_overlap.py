"""Two runs of one action on one object, overlapping: oned's run and a hand re-run (or oned's retry).

Each test starts the same executable twice, the second a moment after the first, with
StorPool latency (the emulator's ``/_sim/latency``) holding the first run inside its
create..rename window, or inside the undo of a failure injected into it, while the second
starts. Whatever the order, no run may remove what the other made: a volume or snapshot
whose name a run printed (or linked) exists afterwards with its data, and nothing is left
behind. ``ds mkfs`` run again over an image's data never formats it.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

MIB = 1024 * 1024
IMAGE_TAGS = {"virt": "one", "nloc": "one"}


def overlapping(run: Callable[[], Any], gap: float, second: Optional[Callable[[], Any]] = None) -> List[Any]:
    """Start ``run``, then ``second`` (default: ``run`` again) ``gap`` seconds later; both results."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(run)
        time.sleep(gap)
        later = pool.submit(second or run)
        return [first.result(), later.result()]


def slow(stack: Any, latency: Dict[str, int]) -> None:
    """Delay these StorPool calls by so many ms each (and no other call: ``{}`` clears them)."""
    for call in ("VolumeCreate", "VolumesReassignWait", "VolumeDelete", "VolumeSnapshot", "VolumesGroupSnapshot",
                 "SnapshotDelete"):
        stack.ctl.set_latency(call, latency.get(call, 0))


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_two_ds_cp_of_one_image_both_print_a_source_that_exists(stack, tmp_path: Path):
    """The second run starts while the first one's rename to one-img-5 is on its way."""
    data = os.urandom(3 * MIB) + b"end of image"
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "disk.raw").write_bytes(data)
    staging = tmp_path / "staging"
    staging.mkdir()
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(folder)})
    image = stack.b.image_xml(5, source="", path=str(folder / "disk.raw"), state=4, size=4)
    stack.oned.put("image", image)
    stdin = stack.ds_action(ds, image)
    stack.ctl.set_latency("VolumeUpdate", 2500)
    results = overlapping(lambda: stack.ds("cp", "5", stdin=stdin, env={"ONESP_STAGING_DIR": str(staging)}), 1.2)
    stack.ctl.set_latency("VolumeUpdate", 0)
    assert [r.code for r in results] == [0, 0], [str(r) for r in results]
    assert [r.stdout for r in results] == ["one-ds-100/one-img-5 raw\n"] * 2
    assert stack.volume_names() == ["one-img-5"]  # no staging volume left, the printed one exists
    assert stack.volume("one-img-5")["tags"] == IMAGE_TAGS
    assert stack.read_volume("one-img-5", len(data)) == data
    assert stack.attachments() == []


def test_ds_clone_whose_answer_is_lost_never_removes_the_clone_a_rerun_printed(stack):
    """The first run's VolumeCreate takes effect but its answer is lost, so it rolls back."""
    stack.put_image(5, data=b"original bytes")
    image = stack.b.image_xml(6, source="", path="one-ds-100/one-img-5", state=4, cloning_id=5, datastore_id=100)
    stack.oned.put("image", image)
    stdin = stack.ds_action(stack.oned.get("datastore", 100), image)
    slow(stack, {"VolumeCreate": 1500, "VolumeDelete": 2000})  # the undo of the first run is slow too
    stack.ctl.inject_fault("VolumeCreate", error="busy", when="after", descr="answer lost")
    results = sorted(overlapping(lambda: stack.ds("clone", "6", stdin=stdin), 0.7), key=lambda r: r.code)
    slow(stack, {})
    assert results[0].code == 0 and results[0].stdout == "one-ds-100/one-img-6\n", [str(r) for r in results]
    assert results[1].code != 0
    assert results[1].error_lines == ["ds clone: create volume one-img-6: busy: answer lost"]
    assert stack.volume_names() == ["one-img-5", "one-img-6"]  # what the successful run printed exists
    assert stack.read_volume("one-img-6", 14) == b"original bytes"


def clone_disk(stack: Any) -> Tuple[Callable[[], Any], str, Dict[str, str]]:
    stack.put_image(5, data=b"golden")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    return (lambda: stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100"),
            "one-img-5-7-0", dict(IMAGE_TAGS, nvm="7", diskid="0", type="NPERS"))


def volatile_disk(stack: Any) -> Tuple[Callable[[], Any], str, Dict[str, str]]:
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16)])
    return (lambda: stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, 0), "7", "101"),
            "one-sys-7-0-raw", dict(IMAGE_TAGS, nvm="7", diskid="0", type="VOL"))


@pytest.mark.parametrize("disk", [clone_disk, volatile_disk], ids=["tm clone", "tm mkimage"])
def test_tm_disk_run_that_fails_never_removes_the_volume_the_other_run_linked(stack, disk):
    """The first run made the disk's volume, then its attach fails and it rolls back (detach, delete)."""
    run, name, tags = disk(stack)
    images = stack.volume_names()
    slow(stack, {"VolumeCreate": 1500, "VolumesReassignWait": 1000, "VolumeDelete": 2000})
    stack.ctl.inject_fault("VolumesReassignWait", error="busy", descr="attach failed")
    results = sorted(overlapping(run, 0.7), key=lambda r: r.code)
    slow(stack, {})
    assert results[0].code == 0, [str(r) for r in results]
    assert results[1].code != 0 and len(results[1].error_lines) == 1, results[1]
    assert "attach failed" in results[1].error_lines[0]
    assert stack.volume_names() == sorted(images + [name])
    assert stack.volume(name)["tags"] == tags
    assert stack.clients_of(name) == {1: "rw"}
    assert os.readlink(stack.local_disk(7, 0)) == str(stack.dev_dir / name)


def test_tm_snap_create_whose_answer_is_lost_never_removes_the_snapshot_a_rerun_reported(stack):
    stack.put_image(5, data=b"boot")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    assert stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100").ok
    slow(stack, {"VolumeSnapshot": 1500, "SnapshotDelete": 2000})
    stack.ctl.inject_fault("VolumeSnapshot", error="busy", when="after", descr="answer lost")
    results = sorted(overlapping(
        lambda: stack.tm("snap_create", stack.disk_path("node1", 7, 0), "0", "7", "100"), 0.7),
        key=lambda r: r.code)
    slow(stack, {})
    assert results[0].code == 0, [str(r) for r in results]
    assert results[1].error_lines == [
        "tm snap_create: snapshot volume one-img-5-7-0 as one-img-5-7-0-snap0: busy: answer lost"], results[1]
    assert stack.snapshot_names() == ["one-img-5-7-0-snap0"]


def mkfs_action(stack, fs: str) -> bytes:
    image = stack.b.image_xml(5, type="DATABLOCK", source="", state=4, size=10, fs=fs)
    stack.oned.put("image", image)
    return stack.ds_action(stack.put_datastore(100), image)


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None or shutil.which("blkid") is None,
                    reason="mkfs.ext4 and blkid are needed")
@pytest.mark.parametrize("held", [b"", b"\x55\xaa partition table and a guest's data"])
def test_ds_mkfs_run_again_over_data_never_formats_it(stack, held):
    """one-img-5 with this instance's tags holds data (or nothing blkid knows): mkfs keeps its hands off."""
    assert stack.ds("mkfs", "5", stdin=mkfs_action(stack, "ext4")).ok
    stack.write_volume("one-img-5", bytes(2 * MIB))  # the guest wiped the filesystem and wrote its own
    stack.write_volume("one-img-5", held, offset=4096)
    before = stack.state()
    r = stack.ds("mkfs", "5", stdin=mkfs_action(stack, "ext4"))
    assert r.code != 0
    assert r.error_lines == [
        "ds mkfs: look for the ext4 filesystem on one-img-5: already exists: volume one-img-5 exists and holds no "
        "filesystem blkid knows, not a ext4 filesystem; an existing volume is never formatted (remove it if it "
        "holds nothing and run again)"], r
    assert stack.state() == before
    assert stack.read_volume("one-img-5", len(held), offset=4096) == held


def test_vmm_snapshot_create_whose_answer_is_lost_never_removes_the_snapshots_a_rerun_reported(stack):
    """VM 7's two disks; the first run's group snapshot lands but its answer is lost, so it forgets them."""
    b = stack.b
    stack.put_image(5)
    disk_tags = dict(IMAGE_TAGS, nvm="7", type="NPERS")
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(disk_tags, diskid="0"))
    stack.sp.volume_create("one-img-5-7-1", base_on="one-img-5", tags=dict(disk_tags, diskid="1"))
    vm_xml = stack.put_vm(7, disks=[b.image_disk(0, 5, size=16), b.image_disk(1, 5, size=16)], context=False,
                          vm_snapshots=[b.vm_snapshot(0, "", time=1736200000, active=True)])
    stdin = base64.b64encode(b.vmm_driver_action_xml(vm_xml, host="node1", datastore=stack.system_ds_xml).encode())
    slow(stack, {"VolumesGroupSnapshot": 1500, "SnapshotDelete": 2000})
    stack.ctl.inject_fault("VolumesGroupSnapshot", error="busy", when="after", descr="answer lost")
    results = sorted(overlapping(
        lambda: stack.vmm("snapshot_create-storpool", "one-7", "0", "7", "node1", stdin=stdin), 0.7),
        key=lambda r: r.code)
    slow(stack, {})
    assert results[0].code == 0, [str(r) for r in results]
    hypervisor_id = results[0].stdout.strip()
    assert results[1].code != 0 and len(results[1].error_lines) == 1, results[1]
    assert "answer lost" in results[1].error_lines[0]
    assert stack.snapshot_names() == ["one-img-5-7-0-" + hypervisor_id, "one-img-5-7-1-" + hypervisor_id]


def test_tm_mvds_whose_rename_answer_is_lost_never_renames_back_what_the_other_run_gave_back(stack):
    """A deferred save-as: disk 0 (persistent image 6) goes back as one-img-12; the first run's rename
    lands but its answer is lost, so it renames back."""
    stack.put_image(6, persistent=True, data=b"state of the disk")
    stack.put_image(12, create_volume=False)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, size=16)])
    assert stack.tm("ln", "fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 0), "7", "100").ok
    stack.ctl.set_latency("VolumeUpdate", 1500)
    stack.ctl.inject_fault("VolumeUpdate", error="busy", when="after", descr="answer lost")
    results = sorted(overlapping(
        lambda: stack.tm("mvds", stack.disk_path("node1", 7, 0), "one-ds-100/one-img-12", "7", "100"), 0.7),
        key=lambda r: r.code)
    stack.ctl.set_latency("VolumeUpdate", 0)
    assert results[0].code == 0, [str(r) for r in results]
    assert results[1].error_lines == ["tm mvds: rename volume one-img-6 to one-img-12: busy: answer lost"], results[1]
    assert stack.volume_names() == ["one-img-12"]  # given back under the name the successful run reported
    assert stack.volume("one-img-12")["tags"] == IMAGE_TAGS
    assert stack.attachments() == []
    assert stack.read_volume("one-img-12", 17) == b"state of the disk"

"""tm snap_revert under failure of each StorPool call: the disk stays attached and linked as before."""

import os
import threading
import time

import pytest

MIB = 1024 * 1024
VOL = "one-img-5-7-0"


@pytest.fixture
def reverting(stack):
    """VM 7 with disk 0 deployed, snapshot 0 holding 'snapshot', then grown to 32 MB and overwritten."""
    stack.put_image(5, data=b"boot")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    disk = stack.disk_path("node1", 7, 0)
    assert stack.tm("clone", "fe:one-ds-100/one-img-5", disk, "7", "100").ok
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.write(b"snapshot")
    assert stack.tm("snap_create", disk, "0", "7", "100").ok
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=32, snapshots=[stack.b.disk_snapshot(0, size=16)])])
    assert stack.tm("resize", disk, "32", "7", "100").ok
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.write(b"current!")
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    return stack


def _revert(stack):
    return stack.tm("snap_revert", stack.disk_path("node1", 7, 0), "0", "7", "100")


def _content(stack):
    with open(stack.local_disk(7, 0), "rb") as dev:
        return dev.read(8)


def test_the_calls_of_a_revert_that_grows_back(reverting):
    r = _revert(reverting)
    assert r.ok, r
    calls = [(c["call"], c["arg"]) for c in reverting.ctl.calls()]
    # the size to grow back to is the disk's SIZE in the VM document: no read of the volume
    assert calls == [("Snapshot", "one-img-5-7-0-snap0"), ("VolumesReassignWait", VOL),
                     ("VolumeRevert", VOL), ("VolumeUpdate", VOL), ("VolumesReassignWait", VOL)]
    assert reverting.oned.call_log().counts == {"one.vm.info": 1, "one.datastore.info": 2, "one.host.info": 1}


# (call, when, the revert already happened)
FAULTS = [
    ("Snapshot", "before", False),
    ("VolumesReassignWait", "before", False),
    ("VolumesReassignWait", "after", False),
    ("VolumeRevert", "before", False),
    ("VolumeRevert", "after", True),
    ("VolumeUpdate", "before", True),
    ("VolumeUpdate", "after", True),
]


@pytest.mark.parametrize("call,when,reverted", FAULTS, ids=["%s-%s" % (c, w) for c, w, _ in FAULTS])
def test_a_failing_call_leaves_the_disk_attached_and_linked(reverting, call, when, reverted):
    stack = reverting
    before = stack.ctl.state(with_bytes=True)
    link = os.readlink(stack.local_disk(7, 0))
    stack.ctl.inject_fault(call, error="busy", when=when, descr="injected")
    r = _revert(stack)
    assert r.code != 0
    assert len(r.error_lines) == 1 and r.error_lines == [r.stderr.splitlines()[0]]
    assert "injected" in r.error_lines[0] and "Traceback" not in r.stderr
    assert stack.clients_of(VOL) == {1: "rw"}
    assert os.readlink(stack.local_disk(7, 0)) == link
    if reverted:
        assert _content(stack) == b"snapshot"
    else:
        assert stack.ctl.state(with_bytes=True) == before
        assert _content(stack) == b"current!"


def test_a_failing_reattach_after_the_revert_is_undone(reverting):
    """The second VolumesReassignWait (attach after the revert) fails; the undo attaches it again."""
    stack = reverting
    link = os.readlink(stack.local_disk(7, 0))
    stack.ctl.set_latency("VolumeRevert", 400)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("r", _revert(stack)))
    worker.start()
    deadline = time.monotonic() + 30
    while stack.ctl.counts().get("VolumesReassignWait", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    stack.ctl.inject_fault("VolumesReassignWait", error="busy", descr="injected on re-attach")
    worker.join(60)
    r = result["r"]
    assert r.code != 0
    assert r.error_lines == ["tm snap_revert: attach one-img-5-7-0 to node1: busy: injected on re-attach"]
    assert "rolled back" in r.stderr
    assert stack.clients_of(VOL) == {1: "rw"}
    assert os.readlink(stack.local_disk(7, 0)) == link
    assert _content(stack) == b"snapshot"


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_failing_snap_create_leaves_no_snapshot(stack, when):
    stack.put_image(5, data=b"boot")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    disk = stack.disk_path("node1", 7, 0)
    assert stack.tm("clone", "fe:one-ds-100/one-img-5", disk, "7", "100").ok
    before = stack.state()
    stack.ctl.inject_fault("VolumeSnapshot", error="busy", when=when, descr="injected")
    r = stack.tm("snap_create", disk, "0", "7", "100")
    assert r.code != 0
    assert r.error_lines == ["tm snap_create: snapshot volume one-img-5-7-0 as one-img-5-7-0-snap0: busy: injected"]
    assert stack.state() == before

"""tm mvds, run as oned runs it: a persistent disk goes back to its image."""

import os

TS = 1736100000


def _ln(stack):
    r = stack.tm("ln", "fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 0), "7", "100")
    assert r.ok, r


def _mvds(stack, source="one-ds-100/one-img-6", **kwargs):
    return stack.tm("mvds", stack.disk_path("node1", 7, 0), source, "7", "100", **kwargs)


def _vm(stack, **kwargs):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, size=16)],
                 user_template={"VC_POLICY": "daily", "SP_QOSCLASS": "gold"}, **kwargs)


def test_mvds_detaches_and_clears_the_vm_tags(stack):
    stack.put_image(6, persistent=True, data=b"mine", template={"SP_QOSCLASS": "bronze"})
    _vm(stack)
    _ln(stack)
    stack.ctl.reset_calls()
    r = _mvds(stack)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert counts == {"Volume": 1, "VolumesReassignWait": 1, "VolumeUpdate": 1}, counts
    assert stack.volume("one-img-6")["tags"] == {"virt": "one", "nloc": "one", "qc": "bronze"}
    assert stack.clients_of("one-img-6") == {}
    assert not os.path.lexists(stack.local_disk(7, 0))
    assert stack.read_volume("one-img-6", 4) == b"mine"
    before = stack.state()
    assert _mvds(stack).ok
    assert stack.state() == before


def test_mvds_qos_falls_back_to_the_image_datastore(stack):
    stack.put_datastore(100, kind="IMAGE", sp={"QOSCLASS": "dsclass"})
    stack.put_image(6, persistent=True)
    _vm(stack)
    _ln(stack)
    assert _mvds(stack).ok
    assert stack.volume("one-img-6")["tags"] == {"virt": "one", "nloc": "one", "qc": "dsclass"}


def test_mvds_deferred_save_as_renames_once(stack):
    stack.put_image(6, persistent=True, data=b"state of the disk")
    stack.put_image(12, create_volume=False, template={"SP_QOSCLASS": "archive"})
    _vm(stack)
    _ln(stack)
    r = _mvds(stack, source="one-ds-100/one-img-12", env={"ONESP_NO_VOLUME_TEMPLATE": "0"})
    assert r.ok, r
    assert stack.volume_names() == ["one-img-12"]
    vol = stack.volume("one-img-12")
    assert vol["tags"] == {"virt": "one", "nloc": "one", "qc": "archive"}
    assert vol["templateName"] == "one-ds-100"
    assert stack.read_volume("one-img-12", 17) == b"state of the disk"
    before = stack.state()
    again = _mvds(stack, source="one-ds-100/one-img-12")
    assert again.ok, again
    assert stack.state() == before


def test_mvds_deletes_this_disks_vm_snapshots(stack):
    stack.put_image(6, persistent=True)
    _vm(stack, vm_snapshots=[stack.b.vm_snapshot(0, "ONESNAP-0-%d" % TS)])
    _ln(stack)
    stack.sp.volume_snapshot("one-img-6", "one-img-6-ONESNAP-0-%d" % TS)
    stack.sp.volume_snapshot("one-img-6", "one-img-6-snap0")  # an image snapshot stays
    assert _mvds(stack).ok
    assert stack.snapshot_names() == ["one-img-6-snap0"]


def test_mvds_of_a_missing_volume_is_one_clear_line(stack):
    stack.put_image(6, persistent=True, create_volume=False)
    _vm(stack)
    r = _mvds(stack)
    assert r.error_lines == ["tm mvds: find the volume of disk 0 of VM 7: not found: volume one-img-6 does not exist: "
                             "the disk has nothing to give back"]


def test_mvds_each_failing_call_leaves_the_state_as_before(stack):
    stack.put_image(6, persistent=True)
    stack.put_image(12, create_volume=False)
    _vm(stack)
    _ln(stack)
    for source in ("one-ds-100/one-img-6", "one-ds-100/one-img-12"):
        for call, when in (("Volume", "before"), ("VolumesReassignWait", "before"), ("VolumesReassignWait", "after"),
                           ("VolumeUpdate", "before"), ("VolumeUpdate", "after")):
            before = stack.state()
            stack.ctl.inject_fault(call, error="invalidParam", when=when, descr="injected")
            r = _mvds(stack, source=source)
            stack.ctl.clear_faults()
            assert r.code != 0 and len(r.error_lines) == 1 and "injected" in r.error_lines[0], (call, when, r)
            assert stack.state() == before, (source, call, when)
            assert os.path.islink(stack.local_disk(7, 0))

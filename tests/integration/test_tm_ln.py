"""tm ln, run as oned runs it: persistent disks use the image volume itself."""

import os

MIB = 1024 * 1024


def _ln(stack, vm=7, disk=0, image=6, host="node1"):
    return stack.tm("ln", "fe:one-ds-100/one-img-%d" % image, stack.disk_path(host, vm, disk), str(vm), "100")


def _persistent_vm(stack, history=None, readonly=False, user_template=None, **disk):
    kwargs = {"history": history} if history else {}
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, size=16, readonly=readonly, **disk)],
                 user_template=user_template, **kwargs)


def test_ln_tags_attaches_and_links_the_image_volume(stack):
    stack.put_image(6, persistent=True, data=b"persistent", template={"SP_QOSCLASS": "bronze"})
    _persistent_vm(stack, user_template={"VC_POLICY": "weekly", "SP_QOSCLASS": "silver"})
    stack.ctl.reset_calls()
    r = _ln(stack)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert counts == {"Volume": 1, "VolumeUpdate": 1, "VolumesReassignWait": 1}, counts
    assert stack.volume_names() == ["one-img-6"]
    assert stack.volume("one-img-6")["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0",
                                                 "type": "PERS", "qc": "bronze", "vc-policy": "weekly"}
    assert stack.clients_of("one-img-6") == {1: "rw"}
    link = stack.local_disk(7, 0)
    assert os.readlink(link) == str(stack.dev_dir / "one-img-6")
    with open(link, "rb") as dev:
        assert dev.read(10) == b"persistent"
    before = stack.state()
    again = _ln(stack)
    assert again.ok, again
    assert stack.state() == before


def test_ln_readonly_uses_readonly_mode(stack):
    stack.put_image(6, persistent=True)
    _persistent_vm(stack, readonly=True)
    r = stack.tm("ln", "fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 0), "7", "100",
                 env={"ONESP_READONLY_MODE": "ro"})
    assert r.ok, r
    assert stack.volume("one-img-6")["tags"]["type"] == "PERSRO"
    assert stack.clients_of("one-img-6") == {1: "ro"}


def test_ln_detaches_a_stale_attachment_of_an_earlier_host_only(stack):
    stack.put_image(6, persistent=True)
    stack.oned.put("host", stack.b.host_xml(3, "node3", sp_ourid=3))
    _persistent_vm(stack, history=[stack.b.history("node2", hid=2), stack.b.history("node1", hid=1)])
    stack.sp.attach("one-img-6", 2)  # left behind on the VM's earlier host
    stack.sp.attach("one-img-6", 3)  # some other client the VM never ran on: not ours to touch
    r = _ln(stack)
    assert r.ok, r
    assert stack.clients_of("one-img-6") == {1: "rw", 3: "rw"}


def test_ln_refuses_to_take_a_disk_that_is_open_on_another_host(stack):
    stack.put_image(6, persistent=True)
    _persistent_vm(stack, history=[stack.b.history("node2", hid=2), stack.b.history("node1", hid=1)])
    stack.sp.attach("one-img-6", 2)
    stack.ctl.set_open("one-img-6", 2)  # a VM still running there
    before = stack.state()
    r = _ln(stack)
    assert r.code != 0
    assert len(r.error_lines) == 1
    assert r.error_lines[0].startswith("tm ln: detach one-img-6 from other hosts (clients 2): busy:")
    assert "not taken away" in r.error_lines[0]
    assert stack.state() == before
    assert not stack.local_disk(7, 0).exists()


def test_ln_cdrom_gets_a_per_vm_clone(stack):
    stack.put_image(9, type="CDROM", data=b"CD001")
    stack.put_vm(7, disks=[stack.b.cdrom_disk(0, 9, size=16)], user_template={"SP_QOSCLASS": "iso"})
    r = _ln(stack, image=9)
    assert r.ok, r
    assert stack.volume("one-img-9-7-0")["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0",
                                                     "type": "CDROM", "qc": "iso"}
    assert stack.volume("one-img-9")["tags"] == {"virt": "one", "nloc": "one"}
    assert stack.clients_of("one-img-9-7-0") == {1: "rw"}
    assert stack.clients_of("one-img-9") == {}
    assert os.readlink(stack.local_disk(7, 0)) == str(stack.dev_dir / "one-img-9-7-0")


def test_ln_refuses_shareable_and_immutable_images(stack):
    stack.put_image(6, persistent=True)
    _persistent_vm(stack, extra={"SHAREABLE": "YES"})
    before = stack.state()
    r = _ln(stack)
    assert r.error_lines == ["tm ln: unsupported: disk 0 of VM 7: SHAREABLE persistent images are not supported"]
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, readonly=True, extra={"SAVE": "NO"})])
    r = _ln(stack)
    assert r.error_lines == ["tm ln: unsupported: disk 0 of VM 7: IMMUTABLE images are supported only as CDROM"]
    assert stack.state() == before


def test_ln_of_a_missing_image_volume(stack):
    stack.put_image(6, persistent=True, create_volume=False)
    _persistent_vm(stack)
    r = _ln(stack)
    assert r.error_lines == ["tm ln: read volume one-img-6: not found: the volume of image 6 does not exist"]


def test_ln_each_failing_call_leaves_the_state_as_before(stack):
    stack.put_image(6, persistent=True, template={"SP_QOSCLASS": "bronze"})
    stack.sp.volume_update("one-img-6", tags={"qc": "old"})
    _persistent_vm(stack)
    for call, when in (("Volume", "before"), ("VolumeUpdate", "before"), ("VolumeUpdate", "after"),
                       ("VolumesReassignWait", "before"), ("VolumesReassignWait", "after")):
        before = stack.state()
        stack.ctl.inject_fault(call, error="invalidParam", when=when, descr="injected")
        r = _ln(stack)
        stack.ctl.clear_faults()
        assert r.code != 0 and len(r.error_lines) == 1 and "injected" in r.error_lines[0], (call, when, r)
        assert stack.state() == before, (call, when)
        assert not stack.local_disk(7, 0).exists()

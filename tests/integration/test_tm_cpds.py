"""tm cpds, run as oned runs it: save-as of a disk's current state or of one of its snapshots."""


from onesp.sim.stack import search_path

MIB = 1024 * 1024


def _setup(stack, lcm_state=3):
    stack.put_image(5, data=b"image")
    stack.put_image(12, create_volume=False, type="DATABLOCK")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)], lcm_state=lcm_state, deploy_id="one-7")
    r = stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100")
    assert r.ok, r
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.write(b"current")


def _cpds(stack, snap="-1", **kwargs):
    return stack.tm("cpds", stack.disk_path("node1", 7, 0), "one-ds-100/one-img-12", snap, "7", "100", **kwargs)


def _fake_virsh(tmp_path, fail=False):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "virsh.log"
    (bindir / "virsh").write_text('#!/bin/sh\necho "$@" >> %s\n%s' % (log, "exit 1\n" if fail else ""))
    (bindir / "virsh").chmod(0o755)
    return {"PATH": "%s:%s" % (bindir, search_path())}, log


def test_cpds_of_the_current_state(stack):
    _setup(stack)
    stack.put_datastore(100, kind="IMAGE", sp={"QOSCLASS": "archive"})
    stack.ctl.reset_calls()
    r = _cpds(stack)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert r.stdout == ""
    assert counts == {"VolumeCreate": 1}, counts
    vol = stack.volume("one-img-12")
    assert vol["tags"] == {"virt": "one", "nloc": "one", "qc": "archive"}
    assert vol["size"] == 16 * MIB
    assert stack.read_volume("one-img-12", 7) == b"current"
    assert stack.clients_of("one-img-12") == {}
    assert stack.clients_of("one-img-5-7-0") == {1: "rw"}  # the VM keeps its disk


def test_cpds_of_a_disk_snapshot(stack):
    _setup(stack)
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.write(b"changed")
    r = _cpds(stack, snap="0", env={"ONESP_NO_VOLUME_TEMPLATE": "0"})
    assert r.ok, r
    assert stack.read_volume("one-img-12", 7) == b"current"
    assert stack.volume("one-img-12")["templateName"] == "one-ds-100"
    r = _cpds(stack, snap="3")
    assert r.code != 0
    assert r.error_lines[0].startswith("tm cpds: copy snapshot one-img-5-7-0-snap3 to volume one-img-12: not found:")


def test_cpds_freezes_a_running_guest_and_always_thaws(stack, tmp_path):
    _setup(stack, lcm_state=26)
    env, log = _fake_virsh(tmp_path)
    env["ONESP_DISK_SAVEAS_FSFREEZE"] = "1"
    assert _cpds(stack, env=env).ok
    assert log.read_text().splitlines() == ["--connect qemu:///system domfsfreeze one-7",
                                            "--connect qemu:///system domfsthaw one-7"]
    log.write_text("")
    stack.sp.volume_delete("one-img-12")
    before = stack.state()
    stack.ctl.inject_fault("VolumeCreate", error="busy", descr="injected")
    r = _cpds(stack, env=env)
    assert r.code != 0
    assert log.read_text().splitlines()[-1] == "--connect qemu:///system domfsthaw one-7"
    assert stack.state() == before


def test_cpds_does_not_freeze_for_a_snapshot_or_when_off(stack, tmp_path):
    _setup(stack, lcm_state=26)
    env, log = _fake_virsh(tmp_path)
    assert _cpds(stack, env=env).ok
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
    env["ONESP_DISK_SAVEAS_FSFREEZE"] = "1"
    stack.sp.volume_delete("one-img-12")
    assert _cpds(stack, snap="0", env=env).ok
    assert not log.exists()


def test_cpds_goes_on_when_the_guest_cannot_be_frozen(stack, tmp_path):
    _setup(stack, lcm_state=26)
    env, log = _fake_virsh(tmp_path, fail=True)
    env["ONESP_DISK_SAVEAS_FSFREEZE"] = "1"
    r = _cpds(stack, env=env)
    assert r.ok, r
    # a failed freeze may still have frozen something: the thaw is tried (twice) anyway
    assert log.read_text().splitlines() == ["--connect qemu:///system domfsfreeze one-7"] + [
        "--connect qemu:///system domfsthaw one-7"] * 2
    assert "freezing the filesystems of one-7 failed" in stack.log_text()


def test_cpds_replaces_a_leftover_target_through_delay_delete(stack):
    _setup(stack)
    stack.sp.volume_create("one-img-12", size=MIB, tags={"virt": "one"})
    stack.write_volume("one-img-12", b"leftover")
    r = _cpds(stack)
    assert r.ok, r
    assert stack.read_volume("one-img-12", 7) == b"current"
    kept = [name for name, s in stack.state()["snapshots"].items() if s["targetDeleteDate"]]
    assert len(kept) == 1 and stack.read_volume(kept[0], 8, snapshot=True) == b"leftover"


def test_cpds_failing_create_leaves_the_state_as_before(stack):
    _setup(stack)
    before = stack.state()
    stack.ctl.inject_fault("VolumeCreate", error="invalidParam", descr="injected")
    r = _cpds(stack)
    assert r.code != 0 and r.error_lines == [
        "tm cpds: copy volume one-img-5-7-0 to volume one-img-12: invalid parameter: injected"]
    assert stack.state() == before

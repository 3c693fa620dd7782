"""tm mv, run as oned runs it: disks and the VM directory follow the VM, per LCM state.

Hosts have private datastores directories (stack.private_hosts), so a move from node1 to
node2 really moves files, and the front-end ("fe") is a host of its own.
"""

import os

import pytest

MIB = 1024 * 1024
TAGS = {"virt": "one", "nloc": "one", "nvm": "7"}
VOLUMES = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw", "one-sys-7-3-iso")
MIGRATE, RESUME, STOP, UNDEPLOY, UNDEPLOY_RESUME, UNKNOWN = 8, 9, 10, 30, 31, 60


def deployed(stack, lcm, on="node1", to="node2", extra_disks=()):
    """VM 7: non-persistent disk 0 (image 5), persistent disk 1 (image 6), volatile disk 2,
    context disk 3; its volumes attached to ``on`` (unless "fe"), its directory there."""
    stack.private_hosts()
    b = stack.b
    stack.put_image(5, data=b"boot-5")
    stack.put_image(6, data=b"data-6", persistent=True)
    history = [b.history(on if on != "fe" else "node1", hid=1)]
    if to not in (on, "fe"):
        history.append(b.history(to, hid=int(to[-1])))
    disks = [b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16),
             b.volatile_disk(2, 16)] + list(extra_disks)
    stack.put_vm(7, disks=disks, lcm_state=lcm, history=tuple(history))
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(TAGS, diskid="0", type="NPERS"))
    stack.sp.volume_create("one-sys-7-2-raw", size=16 * MIB, tags=dict(TAGS, diskid="2", type="VOL"))
    stack.sp.volume_create("one-sys-7-3-iso", size=MIB, tags=dict(TAGS, diskid="3", type="CNTXT"))
    vm_dir = stack.host_root(on) / "101" / "7"
    vm_dir.mkdir(parents=True)
    for disk, name in enumerate(VOLUMES):
        if on != "fe":
            stack.sp.attach(name, 1)
        os.symlink(str(stack.dev_dir / name), vm_dir / ("disk.%d" % disk))
    (vm_dir / "deployment.0").write_bytes(b"<domain>vm 7</domain>")
    (vm_dir / "checkpoint").write_bytes(os.urandom(3 * MIB))
    return vm_dir


def mv(stack, what, src, dst, ds="100"):
    """``what``: a disk id, or None for the VM directory."""
    if what is None:
        return stack.tm("mv", stack.vm_dir(src, 7), stack.vm_dir(dst, 7), "7", "101")
    return stack.tm("mv", stack.disk_path(src, 7, what), stack.disk_path(dst, 7, what), "7", ds)


def move_all(stack, src, dst):
    results = [mv(stack, 0, src, dst), mv(stack, 1, src, dst), mv(stack, 2, src, dst, "101"), mv(stack, None, src, dst)]
    for r in results:
        assert r.ok, r
    return results


def attached(stack):
    return {name: stack.clients_of(name) for name in VOLUMES}


def test_cold_migration_moves_every_volume_and_the_directory(stack):
    source = deployed(stack, MIGRATE)
    checkpoint = (source / "checkpoint").read_bytes()
    stack.ctl.reset_calls()
    r = mv(stack, 0, "node1", "node2")
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumesReassignWait": 1}  # detach node1 + attach node2 in one call
    move_all(stack, "node1", "node2")
    assert attached(stack) == {name: {2: "rw"} for name in VOLUMES}
    target = stack.host_root("node2") / "101" / "7"
    for disk, name in enumerate(VOLUMES):
        assert os.readlink(target / ("disk.%d" % disk)) == str(stack.dev_dir / name)
    with open(target / "disk.0", "rb") as dev:
        assert dev.read(6) == b"boot-5"
    with open(target / "disk.1", "rb") as dev:
        assert dev.read(6) == b"data-6"
    assert (target / "deployment.0").read_bytes() == b"<domain>vm 7</domain>"
    assert (target / "checkpoint").read_bytes() == checkpoint
    assert not source.exists()
    before = stack.state()
    move_all(stack, "node1", "node2")  # a re-run changes nothing
    assert stack.state() == before and (target / "checkpoint").read_bytes() == checkpoint


def test_stop_to_the_front_end_then_resume_on_another_host(stack):
    source = deployed(stack, STOP)
    move_all(stack, "node1", "fe")
    assert attached(stack) == {name: {} for name in VOLUMES}
    parked = stack.host_root("fe") / "101" / "7"
    assert (parked / "deployment.0").read_bytes() == b"<domain>vm 7</domain>" and not source.exists()
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.image_disk(1, 6, persistent=True, size=16),
                           stack.b.volatile_disk(2, 16)], lcm_state=RESUME,
                 history=(stack.b.history("node1", hid=1), stack.b.history("node2", hid=2)))
    move_all(stack, "fe", "node2")
    assert attached(stack) == {name: {2: "rw"} for name in VOLUMES}
    target = stack.host_root("node2") / "101" / "7"
    with open(target / "disk.0", "rb") as dev:
        assert dev.read(6) == b"boot-5"
    assert (target / "deployment.0").exists() and not parked.exists()


def test_undeploy_detaches_everywhere_and_resume_takes_stale_attachments_away(stack):
    deployed(stack, UNDEPLOY)
    stack.sp.attach("one-img-5-7-0", 3)  # stale, on a host oned does not know about
    move_all(stack, "node1", "fe")
    assert attached(stack) == {name: {} for name in VOLUMES}
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.image_disk(1, 6, persistent=True, size=16),
                           stack.b.volatile_disk(2, 16)], lcm_state=UNDEPLOY_RESUME,
                 history=(stack.b.history("node1", hid=1), stack.b.history("node2", hid=2)))
    stack.sp.attach("one-img-5-7-0", 1)  # stale, on the VM's earlier host
    move_all(stack, "fe", "node2")
    assert attached(stack) == {name: {2: "rw"} for name in VOLUMES}


def test_source_host_down_moves_storpool_only(stack):
    source = deployed(stack, UNKNOWN)
    move_all(stack, "node1", "node2")
    assert attached(stack) == {name: {2: "rw"} for name in VOLUMES}
    target = stack.host_root("node2") / "101" / "7"
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith(".monitor")) == [
        "disk.0", "disk.1", "disk.2", "disk.3"]
    assert (source / "checkpoint").exists()  # nothing was asked of the dead host


@pytest.mark.parametrize("lcm, result", [
    (38, {2: "rw"}), (43, {2: "rw"}), (44, {2: "rw"}), (45, {2: "rw"}), (46, {2: "rw"}), (61, {2: "rw"}),
    (41, {}), (42, {}),
])
def test_retry_states_do_what_their_original_state_does(stack, lcm, result):
    deployed(stack, lcm)
    target = "fe" if lcm in (41, 42) else "node2"
    r = mv(stack, 0, "node1", target)
    assert r.ok, r
    assert stack.clients_of("one-img-5-7-0") == result


@pytest.mark.parametrize("lcm", [49, 50])
def test_resume_retry_states_attach(stack, lcm):
    deployed(stack, lcm, on="fe")
    r = mv(stack, 0, "fe", "node2")
    assert r.ok, r
    assert stack.clients_of("one-img-5-7-0") == {2: "rw"}


def test_same_source_and_destination_is_a_no_op(stack):
    deployed(stack, MIGRATE)
    before = stack.state()
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    r = mv(stack, 0, "node1", "node1")
    assert r.ok, r
    assert stack.state() == before
    assert stack.ctl.counts() == {} and stack.oned.call_log().counts == {}


def test_a_state_without_moves_is_refused_before_any_change(stack):
    deployed(stack, 3)
    before = stack.state()
    r = mv(stack, 0, "node1", "node2")
    assert r.code != 0
    assert r.error_lines == ["tm mv: unsupported: VM 7 is in LCM state 3, in which oned does not move disks; "
                             "nothing was changed"]
    assert stack.state() == before


def test_unknown_destination_client_is_an_error_before_any_change(stack):
    deployed(stack, MIGRATE, to="node9")
    before = stack.state()
    stack.ctl.reset_calls()
    for what in (0, None):
        r = mv(stack, what, "node1", "node9", "101")
        assert r.code != 0
        assert r.error_lines[0].startswith("tm mv: find the StorPool client id of node9: not found:")
        assert stack.state() == before and stack.ctl.counts() == {}
        assert not (stack.host_root("node9") / "101").exists()


def test_failed_reassign_leaves_everything_as_before(stack):
    deployed(stack, MIGRATE)
    before = stack.state()
    stack.ctl.inject_fault("VolumesReassignWait", error="busy")
    r = mv(stack, 0, "node1", "node2")
    assert r.code != 0
    assert r.error_lines == ["tm mv: move one-img-5-7-0 from node1 to node2 (PROLOG_MIGRATE): busy: "
                             "fault injected by the emulator"]
    assert stack.state() == before


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_reassign_failing_leaves_the_state_as_before(stack, when):
    """VolumesReassignWait is the only StorPool call of mv; "after": it took effect, the answer was lost."""
    deployed(stack, MIGRATE)
    for what, ds in ((0, "100"), (None, "101")):
        before = stack.state()
        stack.ctl.reset_calls()
        stack.ctl.inject_fault("VolumesReassignWait", error="busy", when=when)
        r = mv(stack, what, "node1", "node2", ds)
        assert r.code != 0 and len(r.error_lines) == 1, r
        assert stack.state() == before
        assert {c["call"] for c in stack.ctl.calls()} == {"VolumesReassignWait"}


def test_failed_link_moves_the_volume_back(stack):
    deployed(stack, MIGRATE)
    (stack.host_root("node2") / "101").mkdir(parents=True)
    (stack.host_root("node2") / "101" / "7").write_text("not a directory")
    before = stack.state()
    r = mv(stack, 0, "node1", "node2")
    assert r.code != 0
    assert r.error_lines[0].startswith("tm mv: link %s/101/7/disk.0 on node2: host command failed:" % stack.ds_location)
    assert stack.state() == before


def test_failed_directory_copy_undoes_every_step(stack):
    source = deployed(stack, MIGRATE)
    for disk in (0, 1):
        assert mv(stack, disk, "node1", "node2").ok
    target = stack.host_root("node2") / "101" / "7"
    (target / "checkpoint").mkdir()
    (target / "checkpoint" / "in-the-way").write_text("x")  # tar cannot put a file here
    before = stack.state()
    listing = sorted(p.name for p in target.iterdir())
    r = mv(stack, None, "node1", "node2")
    assert r.code != 0
    assert r.error_lines[0].startswith("tm mv: copy %s/101/7 from node1 to %s/101/7 on node2: host command failed: "
                                       "tar -x into" % (stack.ds_location, stack.ds_location))
    assert stack.state() == before  # the context ISO is back on node1 only
    assert stack.clients_of("one-sys-7-3-iso") == {1: "rw"}
    assert sorted(p.name for p in target.iterdir()) == listing
    assert (source / "deployment.0").exists()


def test_missing_cdrom_clone_is_made_again_from_the_image(stack):
    stack.put_image(9, data=b"iso-9", type="CDROM")
    deployed(stack, RESUME, on="fe", extra_disks=[stack.b.cdrom_disk(4, 9)])
    r = mv(stack, 4, "fe", "node2")
    assert r.ok, r
    assert stack.volume("one-img-9-7-4")["tags"] == dict(TAGS, diskid="4", type="CDROM")
    assert stack.clients_of("one-img-9-7-4") == {2: "rw"}
    with open(stack.local_disk(7, 4, host="node2"), "rb") as dev:
        assert dev.read(5) == b"iso-9"


def test_shared_readonly_image_in_use_by_another_vm_stays_attached(stack):
    stack.put_image(8, data=b"ro-8", persistent=True)
    deployed(stack, STOP, extra_disks=[stack.b.image_disk(4, 8, persistent=True, readonly=True, size=16)])
    stack.sp.attach("one-img-8", 1)
    stack.ctl.set_open("one-img-8", 1)  # another VM on node1 reads it
    r = mv(stack, 4, "node1", "fe")
    assert r.ok, r
    assert stack.clients_of("one-img-8") == {1: "rw"}
    stack.ctl.set_open("one-img-8", 1, False)
    assert mv(stack, 4, "node1", "fe").ok
    assert stack.clients_of("one-img-8") == {}


def test_move_between_system_datastores_on_one_host(stack):
    source = deployed(stack, MIGRATE, to="node1")
    stack.put_datastore(102, kind="SYSTEM")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.image_disk(1, 6, persistent=True, size=16),
                           stack.b.volatile_disk(2, 16)], lcm_state=MIGRATE,
                 history=(stack.b.history("node1", hid=1), stack.b.history("node1", hid=1, ds_id=102)))
    checkpoint = (source / "checkpoint").read_bytes()
    for what, ds in ((0, "100"), (1, "100"), (2, "102"), (None, "102")):
        src = stack.disk_path("node1", 7, what) if what is not None else stack.vm_dir("node1", 7)
        dst = stack.disk_path("node1", 7, what, 102) if what is not None else stack.vm_dir("node1", 7, 102)
        r = stack.tm("mv", src, dst, "7", ds)
        assert r.ok, r
    assert attached(stack) == {name: {1: "rw"} for name in VOLUMES}
    target = stack.host_root("node1") / "102" / "7"
    assert (target / "checkpoint").read_bytes() == checkpoint and not source.exists()
    with open(target / "disk.0", "rb") as dev:
        assert dev.read(6) == b"boot-5"


@pytest.mark.parametrize("clean", ["1", "0"])
def test_skip_undeploy_ssh_keeps_the_directory_off_the_front_end(stack, clean):
    source = deployed(stack, STOP)
    env = {"ONESP_SKIP_UNDEPLOY_SSH": "1", "ONESP_CLEAN_SRC_ON_UNDEPLOY": clean}
    for r in (stack.tm("mv", stack.disk_path("node1", 7, 0), stack.disk_path("fe", 7, 0), "7", "100", env=env),
              stack.tm("mv", stack.vm_dir("node1", 7), stack.vm_dir("fe", 7), "7", "101", env=env)):
        assert r.ok, r
    assert not (stack.host_root("fe") / "101" / "7").exists()
    assert source.exists() == (clean == "0")
    assert stack.clients_of("one-img-5-7-0") == {} and stack.clients_of("one-sys-7-3-iso") == {}


def test_shared_system_datastore_moves_no_files(stack):
    source = deployed(stack, MIGRATE)
    stack.put_datastore(101, kind="SYSTEM", sp={"SYSTEM": "shared"})
    move_all(stack, "node1", "node2")
    assert attached(stack) == {name: {2: "rw"} for name in VOLUMES}
    assert (source / "checkpoint").exists()
    assert not (stack.host_root("node2") / "101" / "7" / "checkpoint").exists()

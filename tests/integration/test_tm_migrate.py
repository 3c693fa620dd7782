"""tm premigrate / postmigrate / failmigrate, run as oned's VMM driver runs them.

Hosts have private datastores directories (stack.private_hosts), so the VM directory of
node1 and node2 are really two directories, as with SP_SYSTEM=ssh in production.
"""

import base64
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]
TAGS = {"virt": "one", "nloc": "one", "nvm": "7"}
VOLUMES = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw", "one-sys-7-3-iso")


def running(stack, private=True, extra_disks=(), **vm):
    """VM 7 running on node1 and being live-migrated to node2; returns the VM document (base64)."""
    if private:
        stack.private_hosts()
    b = stack.b
    stack.put_image(5, data=b"boot-5")
    stack.put_image(6, persistent=True)
    disks = [b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16),
             b.volatile_disk(2, 16)] + list(extra_disks)
    vm.setdefault("history", (b.history("node1", hid=1), b.history("node2", hid=2)))
    xml = stack.put_vm(7, disks=disks, lcm_state=4, context={"DISK_ID": "3"}, **vm)
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(TAGS, diskid="0", type="NPERS"))
    stack.sp.volume_create("one-sys-7-2-raw", size=16 * MIB, tags=dict(TAGS, diskid="2", type="VOL"))
    stack.sp.volume_create("one-sys-7-3-iso", size=MIB, tags=dict(TAGS, diskid="3", type="CNTXT"))
    vm_dir = stack.host_root("node1") / "101" / "7"
    vm_dir.mkdir(parents=True)
    for disk, name in enumerate(VOLUMES):
        stack.sp.attach(name, 1)
        os.symlink(str(stack.dev_dir / name), vm_dir / ("disk.%d" % disk))
        (vm_dir / ("disk.%d.monitor" % disk)).write_text("storpool\n")
    (vm_dir / "deployment.0").write_bytes(b"<domain>vm 7</domain>")
    return base64.b64encode(xml.encode())


def hook(stack, action, doc, *extra, **kwargs):
    return stack.tm(action, "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", *extra, stdin=doc, **kwargs)


def attached(stack):
    return {name: stack.clients_of(name) for name in VOLUMES}


def listing(stack, host):
    path = stack.host_root(host) / "101" / "7"
    return sorted(p.name for p in path.iterdir()) if path.exists() else None


def test_live_migration_keeps_the_data_and_leaves_only_the_destination(stack):
    doc = running(stack)
    with open(stack.local_disk(7, 0, host="node1"), "r+b") as dev:
        dev.write(b"written on node1")
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    r = hook(stack, "premigrate", doc)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumesReassignWait": 1}
    assert stack.oned.call_log().counts == {"one.datastore.info": 2, "one.host.info": 1}
    assert attached(stack) == {name: {1: "rw", 2: "rw"} for name in VOLUMES}
    assert listing(stack, "node2") == listing(stack, "node1")
    with open(stack.local_disk(7, 0, host="node2"), "rb") as dev:
        assert dev.read(16) == b"written on node1"
    stack.ctl.reset_calls()
    r = hook(stack, "postmigrate", doc)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumesReassignWait": 1}
    assert attached(stack) == {name: {2: "rw"} for name in VOLUMES}
    assert listing(stack, "node1") is None
    assert (stack.host_root("node2") / "101" / "7" / "deployment.0").read_bytes() == b"<domain>vm 7</domain>"
    with open(stack.local_disk(7, 0, host="node2"), "rb") as dev:
        assert dev.read(16) == b"written on node1"
    assert hook(stack, "postmigrate", doc).ok  # oned may run it again: nothing left to do


def test_failmigrate_restores_the_state_before_premigrate(stack):
    doc = running(stack)
    before = stack.state()
    node1 = listing(stack, "node1")
    assert hook(stack, "premigrate", doc).ok
    r = hook(stack, "failmigrate", doc)
    assert r.ok, r
    assert stack.state() == before
    assert listing(stack, "node2") is None and listing(stack, "node1") == node1
    assert hook(stack, "failmigrate", doc).ok and stack.state() == before


def test_premigrate_twice_at_once_and_again(stack):
    doc = running(stack)
    results = []
    threads = [threading.Thread(target=lambda: results.append(hook(stack, "premigrate", doc))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.ok for r in results] == [True, True], results
    assert attached(stack) == {name: {1: "rw", 2: "rw"} for name in VOLUMES}
    assert listing(stack, "node2") == listing(stack, "node1")
    before = stack.state()
    assert hook(stack, "premigrate", doc).ok
    assert stack.state() == before


def _premigrate_calls(stack):
    doc = running(stack)
    stack.ctl.reset_calls()
    assert hook(stack, "premigrate", doc).ok
    return sorted({c["call"] for c in stack.ctl.calls()})


@pytest.mark.parametrize("when", ["before", "after"])
def test_each_storpool_call_of_premigrate_failing_leaves_the_state_as_before(stack, when):
    calls = _premigrate_calls(stack)
    assert calls == ["VolumesReassignWait"]
    assert hook(stack, "failmigrate", base64.b64encode(stack.oned.get("vm", 7).encode())).ok
    doc = base64.b64encode(stack.oned.get("vm", 7).encode())
    for call in calls:
        before = stack.state()
        stack.ctl.inject_fault(call, error="busy", when=when)
        r = hook(stack, "premigrate", doc)
        assert r.code != 0
        assert r.error_lines[0].startswith("tm premigrate: attach the volumes of VM 7 to node2: busy:")
        assert stack.state() == before
        assert listing(stack, "node2") is None


def test_failed_directory_copy_detaches_again(stack):
    doc = running(stack)
    (stack.host_root("node2") / "101").mkdir(parents=True)
    (stack.host_root("node2") / "101" / "7").write_text("in the way")
    before = stack.state()
    r = hook(stack, "premigrate", doc)
    assert r.code != 0
    assert r.error_lines[0].startswith("tm premigrate: make %s/101/7 on node2: host command failed" % stack.ds_location)
    assert stack.state() == before


def test_called_by_our_own_system_tm_does_nothing(stack):
    doc = running(stack)
    before = stack.state()
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    for action in ("premigrate", "postmigrate", "failmigrate"):
        assert hook(stack, action, doc, "storpool").ok
    assert stack.state() == before and stack.ctl.counts() == {} and stack.oned.call_log().counts == {}


def test_as_image_tm_under_another_system_tm_only_image_disks_move(stack):
    doc = running(stack)
    r = hook(stack, "premigrate", doc, "ssh")
    assert r.ok, r
    assert attached(stack) == {"one-img-5-7-0": {1: "rw", 2: "rw"}, "one-img-6": {1: "rw", 2: "rw"},
                               "one-sys-7-2-raw": {1: "rw"}, "one-sys-7-3-iso": {1: "rw"}}
    assert listing(stack, "node2") == ["disk.0", "disk.0.monitor", "disk.1", "disk.1.monitor"]
    assert hook(stack, "postmigrate", doc, "ssh").ok
    assert attached(stack)["one-img-5-7-0"] == {2: "rw"} and listing(stack, "node1") is not None


def test_unknown_destination_client_is_an_error_before_any_change(stack):
    doc = running(stack)
    stack.oned.put("host", stack.b.host_xml(2, "node2"))  # no SP_OURID any more
    before = stack.state()
    r = hook(stack, "premigrate", doc)
    assert r.code != 0
    assert r.error_lines[0].startswith("tm premigrate: find the StorPool client id of node2: not found:")
    assert stack.state() == before and listing(stack, "node2") is None


def test_foreign_disk_is_refused_with_ssh_system_datastore(stack):
    doc = running(stack, extra_disks=[stack.b.image_disk(4, 9, tm_mad="qcow2")])
    before = stack.state()
    r = hook(stack, "premigrate", doc)
    assert r.code != 0
    assert r.error_lines == ["tm premigrate: unsupported: VM 7: disk 4 is on TM qcow2; with SP_SYSTEM=ssh only "
                             "StorPool (and Ceph) disks can be live-migrated"]
    assert stack.state() == before


def test_one_directory_seen_from_both_hosts_is_neither_copied_nor_removed(stack):
    doc = running(stack, private=False)  # node1 and node2 share the datastores directory
    assert hook(stack, "premigrate", doc).ok
    assert hook(stack, "postmigrate", doc).ok
    assert listing(stack, "node1") == ["deployment.0", "disk.0", "disk.0.monitor", "disk.1", "disk.1.monitor",
                                       "disk.2", "disk.2.monitor", "disk.3", "disk.3.monitor"]
    assert attached(stack) == {name: {2: "rw"} for name in VOLUMES}


def _remotes(tmp_path, fake_script):
    """A remotes tree: tm/storpool/* are our executables, tm/fake/* another driver's."""
    ours = tmp_path / "remotes" / "tm" / "storpool"
    ours.mkdir(parents=True)
    for action in ("premigrate", "postmigrate", "failmigrate"):
        (ours / action).symlink_to(REPO / "tm" / "storpool" / action)
    fake = tmp_path / "remotes" / "tm" / "fake"
    fake.mkdir()
    script = fake / "premigrate"
    script.write_text(fake_script)
    script.chmod(0o755)
    return ours


def test_other_tms_hooks_run_with_our_name_and_the_same_stdin(stack, tmp_path):
    stack.put_datastore(101, kind="SYSTEM", sp={"SYSTEM": "shared"})
    doc = running(stack, extra_disks=[stack.b.image_disk(4, 9, tm_mad="fake")])
    record = tmp_path / "fake-called"
    ours = _remotes(tmp_path, '#!/bin/sh\necho "$@" > %s\ncat >> %s\n' % (record, record))
    args = ["node1", "node2", "%s/101/7" % stack.ds_location, "7", "101"]
    proc = subprocess.run([sys.executable, str(ours / "premigrate")] + args, input=doc, env=stack.env,
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert record.read_bytes() == (" ".join(args + ["storpool"]) + "\n").encode() + doc


def test_a_failing_other_tm_undoes_premigrate(stack, tmp_path):
    stack.put_datastore(101, kind="SYSTEM", sp={"SYSTEM": "shared"})
    doc = running(stack, extra_disks=[stack.b.image_disk(4, 9, tm_mad="fake")])
    ours = _remotes(tmp_path, "#!/bin/sh\necho 'INFO: trying' >&2\necho 'no route to the ceph monitors' >&2\nexit 3\n")
    before = stack.state()
    proc = subprocess.run([sys.executable, str(ours / "premigrate"), "node1", "node2",
                           "%s/101/7" % stack.ds_location, "7", "101"], input=doc, env=stack.env,
                          capture_output=True, check=False)
    assert proc.returncode != 0
    assert proc.stderr.decode().splitlines()[0] == (
        "tm premigrate: run premigrate of TM fake: backend error: fake/premigrate failed: no route to the ceph monitors")
    assert stack.state() == before


def test_move_to_another_system_datastore_on_the_same_host_keeps_every_volume_attached(stack):
    """OpenNebula 7.2 live-migrates a VM to another system datastore only on its own host: the
    hooks get that host twice, the new datastore's directory and id."""
    doc = running(stack, history=(stack.b.history("node1", hid=1, ds_id=101),
                                  stack.b.history("node1", hid=1, ds_id=102)))
    stack.put_datastore(102, kind="SYSTEM")
    stack.sp.template_create("one-ds-102", replication=3, placeAll="default", placeTail="default")
    new_dir = "%s/102/7" % stack.ds_location
    old = listing(stack, "node1")
    stack.ctl.reset_calls()
    for action in ("premigrate", "postmigrate"):
        r = stack.tm(action, "node1", "node1", new_dir, "7", "102", stdin=doc)
        assert r.ok, r
        assert attached(stack) == {name: {1: "rw"} for name in VOLUMES}, action
    assert "VolumesReassignWait" not in stack.ctl.counts()
    new = stack.host_root("node1") / "102" / "7"
    assert [os.readlink(str(new / ("disk.%d" % disk))) for disk in range(4)] == [
        str(stack.dev_dir / name) for name in VOLUMES]
    assert listing(stack, "node1") == old  # the running VM's definition still names these paths
    r = stack.tm("failmigrate", "node1", "node1", new_dir, "7", "102", stdin=doc)
    assert r.ok, r
    assert attached(stack) == {name: {1: "rw"} for name in VOLUMES}


def test_move_to_a_system_datastore_on_another_storpool_cluster_is_refused_before_any_change(stack):
    doc = running(stack, history=(stack.b.history("node1", hid=1, ds_id=101),
                                  stack.b.history("node1", hid=1, ds_id=102)))
    stack.put_datastore(102, kind="SYSTEM", sp={"API_HTTP_HOST": "192.0.2.9", "API_HTTP_PORT": "81",
                                              "AUTH_TOKEN": "token-of-the-other-cluster"})
    before = stack.state()
    stack.ctl.reset_calls()
    r = stack.tm("premigrate", "node1", "node1", "%s/102/7" % stack.ds_location, "7", "102", stdin=doc)
    assert r.code != 0
    assert r.error_lines == ["tm premigrate: unsupported: VM 7: system datastores 101 and 102 use different StorPool "
                             "clusters (%s:%s, 192.0.2.9:81); its volumes cannot follow a live move between them"
                             % (stack.env["SP_API_HTTP_HOST"], stack.env["SP_API_HTTP_PORT"])]
    assert stack.state() == before and listing(stack, "node1") is not None
    assert not (stack.host_root("node1") / "102").exists()

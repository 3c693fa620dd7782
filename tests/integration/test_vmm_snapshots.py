"""vmm snapshot_create / snapshot_delete / snapshot_revert, run as oned runs them (local VMM actions).

The VM has three disks on StorPool: a non-persistent image disk (one-img-5-7-0), a
persistent image (one-img-6) and a volatile disk (one-sys-7-2-raw), all attached to node1
(client 1) as while the VM runs, plus a context disk. ``virsh`` on the host is a fake on
PATH that records its arguments and fails, sleeps or answers as a test configures it.
"""

from __future__ import annotations

import base64
import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

MIB = 1024 * 1024
VM = 7
TIME = 1736200000
VOLUMES = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw")
OLD = {name: b"snapshot-time data of " + name.encode() for name in VOLUMES}
NEW = {name: b"later data, after the snapshot, of " + name.encode() for name in VOLUMES}

FAKE_VIRSH = """#!%s
import json, os, sys, time
conf_path = os.environ.get("FAKE_VIRSH_CONF", "")
conf = json.load(open(conf_path)) if conf_path and os.path.exists(conf_path) else {}
args = sys.argv[1:]
with open(os.environ["FAKE_VIRSH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
i = 0
while i < len(args) and args[i].startswith("-"):
    i += 2 if args[i] == "--connect" else 1
sub = args[i] if i < len(args) else ""
time.sleep(conf.get("sleep", {}).get(sub, 0))
if sub in conf.get("fail", {}):
    sys.stderr.write(conf["fail"][sub] + "\\n")
    sys.exit(1)
sys.stdout.write(conf.get("stdout", {}).get(sub, ""))
"""


class FakeVirsh:
    """A ``virsh`` on PATH for the local host runner: logs argv, fails/sleeps/answers per subcommand."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        script = self.bin / "virsh"
        script.write_text(FAKE_VIRSH % sys.executable)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self.log = root / "virsh.log"
        self.conf = root / "virsh.json"

    def env(self, base_path: str) -> Dict[str, str]:
        return {"PATH": "%s:%s" % (self.bin, base_path), "FAKE_VIRSH_LOG": str(self.log),
                "FAKE_VIRSH_CONF": str(self.conf)}

    def configure(self, fail: Optional[Dict[str, str]] = None, stdout: Optional[Dict[str, str]] = None,
                  sleep: Optional[Dict[str, float]] = None) -> None:
        self.conf.write_text(json.dumps({"fail": fail or {}, "stdout": stdout or {}, "sleep": sleep or {}}))

    def calls(self) -> List[List[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def subcommands(self) -> List[str]:
        return [c[2] for c in self.calls()]


@pytest.fixture
def virsh(tmp_path: Path) -> FakeVirsh:
    return FakeVirsh(tmp_path)


class VmSetup:
    def __init__(self, stack: Any, virsh: FakeVirsh) -> None:
        self.stack = stack
        self.virsh = virsh
        self.env = virsh.env(stack.env["PATH"])

    def put(self, snapshots: Any = (), user_template: Optional[Dict[str, str]] = None, disks: Any = None) -> str:
        b = self.stack.b
        self.vm_xml = self.stack.put_vm(VM, disks=disks if disks is not None else [
            b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16), b.volatile_disk(2, 16)],
            vm_snapshots=snapshots, user_template=user_template)
        return self.vm_xml

    def stdin(self) -> bytes:
        """The base64 VMM_DRIVER_ACTION_DATA a local VMM action reads."""
        xml = self.stack.b.vmm_driver_action_xml(self.vm_xml, host="node1", datastore=self.stack.system_ds_xml)
        return base64.b64encode(xml.encode())

    def run(self, action: str, second: str, env: Optional[Dict[str, str]] = None, stdin: bool = True) -> Any:
        return self.stack.vmm(action, "one-%d" % VM, second, str(VM), "node1", stdin=self.stdin() if stdin else b"",
                              env=dict(self.env, **(env or {})))

    def create(self, snap_id: int, time: int = TIME, **kwargs: Any) -> Any:
        """snapshot_create as oned calls it: the new record is already in the VM (ACTIVE)."""
        return self.run("snapshot_create-storpool", str(snap_id), **kwargs)

    def write(self, data: Dict[str, bytes]) -> None:
        for name, payload in data.items():
            self.stack.write_volume(name, payload)

    def read(self, name: str) -> bytes:
        return self.stack.read_volume(name, len(NEW[name]))


@pytest.fixture
def vm(stack: Any, virsh: FakeVirsh) -> VmSetup:
    setup = VmSetup(stack, virsh)
    stack.put_image(5)
    stack.put_image(6, persistent=True)
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5",
                           tags={"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0", "type": "NPERS"})
    stack.sp.volume_update("one-img-6", tags={"nvm": "7", "diskid": "1", "type": "PERS"})
    stack.sp.volume_create("one-sys-7-2-raw", size=16 * MIB, template="one-ds-101",
                           tags={"virt": "one", "nloc": "one", "nvm": "7", "diskid": "2", "type": "VOL"})
    stack.sp.volume_create("one-sys-7-3-iso", size=MIB, template="one-ds-101",
                           tags={"virt": "one", "nloc": "one", "nvm": "7", "diskid": "3", "type": "CNTXT"})
    for name in VOLUMES:
        stack.sp.attach(name, 1)
    setup.write(OLD)
    setup.put(snapshots=[stack.b.vm_snapshot(0, "", time=TIME, active=True)])
    return setup


def snap_names(hypervisor_id: str) -> List[str]:
    return ["%s-%s" % (name, hypervisor_id) for name in VOLUMES]


def vm_snapshots_in(stack: Any) -> List[str]:
    return [n for n in stack.snapshot_names() if "-ONESNAP-" in n or "-SPTMP-" in n]


# -- the full cycle --------------------------------------------------------------------------------


def test_snapshot_change_revert_reads_back_the_snapshot_and_delete_removes_it(stack, vm):
    stack.ctl.reset_calls()
    r = vm.create(0)
    assert r.ok, r
    assert r.stdout == "ONESNAP-0-%d\n" % TIME
    assert stack.ctl.counts() == {"VolumesGroupSnapshot": 1}
    hid = "ONESNAP-0-%d" % TIME
    assert vm_snapshots_in(stack) == sorted(snap_names(hid))
    for name in snap_names(hid):
        snap = stack.sp.snapshot(name)
        assert {k: snap["tags"].get(k) for k in ("virt", "nloc", "nvm")} == {"virt": "one", "nloc": "one", "nvm": "7"}
    assert "one-sys-7-3-iso-" + hid not in stack.snapshot_names()  # the context ISO is not the VM's data

    vm.write(NEW)
    assert all(vm.read(name) == NEW[name] for name in VOLUMES)
    before = {name: stack.volume(name) for name in VOLUMES}
    vm.put(snapshots=[stack.b.vm_snapshot(0, hid, time=TIME, active=True)])
    vm.virsh.configure()
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    r = vm.run("snapshot_revert-storpool", hid)
    assert r.ok, r
    assert r.stdout == ""
    # Snapshot: the three disks' and the memory snapshot's (absent: the domain stays off)
    assert stack.ctl.counts() == {"Snapshot": 4, "VolumesReassignWait": 2, "VolumeSnapshot": 3,
                                  "VolumeRevert": 3, "SnapshotDelete": 3}
    assert stack.oned.call_log().counts == {"one.host.info": 1}  # the client id of node1, by the id in its history
    assert vm.virsh.calls() == [["--connect", "qemu:///system", "destroy", "one-7"]]
    for name in VOLUMES:
        assert vm.read(name) == OLD[name].ljust(len(NEW[name]), b"\0")
        after = stack.volume(name)
        for key in ("name", "globalId", "templateName", "tags", "size"):
            assert after[key] == before[name][key], (name, key)
        assert stack.clients_of(name) == {1: "rw"}
    assert vm_snapshots_in(stack) == sorted(snap_names(hid))  # the temporary snapshots are gone

    stack.ctl.reset_calls()
    r = vm.run("snapshot_delete-storpool", hid)
    assert r.ok, r
    assert vm_snapshots_in(stack) == []
    counts = stack.ctl.counts()
    assert counts["SnapshotDelete"] == 3
    assert counts["VolumesReassignWait"] == 5  # three snapshots + the context ISO and the memory (absent)
    again = vm.run("snapshot_delete-storpool", hid)
    assert again.ok, again


def test_create_reads_the_vm_from_oned_when_stdin_is_empty(stack, vm):
    stack.oned.reset_calls()
    r = vm.create(0, stdin=False)
    assert r.ok, r
    assert r.stdout.strip() == "ONESNAP-0-%d" % TIME
    assert stack.oned.call_log().counts == {"one.vm.info": 1, "one.datastore.info": 1}


def test_create_twice_keeps_the_first_set(stack, vm):
    assert vm.create(0).ok
    state = stack.ctl.state(with_bytes=True)
    again = vm.create(0)
    assert again.ok, again
    assert again.stdout.strip() == "ONESNAP-0-%d" % TIME
    assert stack.ctl.state(with_bytes=True) == state


def test_create_refuses_a_vm_with_a_writable_disk_outside_storpool(stack, vm):
    b = stack.b
    vm.put(disks=[b.image_disk(0, 5, size=16), b.image_disk(1, 9, tm_mad="ssh", size=16)],
           snapshots=[b.vm_snapshot(0, "", time=TIME, active=True)])
    r = vm.create(0)
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_create: check the disks of VM 7: unsupported: disk 1 of VM 7 is not on "
                             "StorPool, so a StorPool VM snapshot cannot cover it"]
    assert vm_snapshots_in(stack) == []


def test_override_off_refuses(stack, vm):
    r = vm.create(0, env={"ONESP_VMSNAPSHOT_OVERRIDE": "0"})
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_create: unsupported: StorPool VM snapshots are disabled "
                             "(VMSNAPSHOT_OVERRIDE=0 in environment variable ONESP_VMSNAPSHOT_OVERRIDE)"]


def test_vm_without_storpool_disks_goes_to_the_stock_script(stack, vm, tmp_path):
    b = stack.b
    vm.put(disks=[b.image_disk(0, 9, tm_mad="ssh", size=16)], snapshots=[b.vm_snapshot(0, "", active=True)])
    stock = tmp_path / "remote" / "vmm" / "kvm"
    stock.mkdir(parents=True)
    for action in ("snapshot_create", "snapshot_delete", "snapshot_revert"):
        script = stock / action
        script.write_text('#!/bin/sh\necho "$0 $*" >> "%s"\ncat > /dev/null\n[ "${0##*/}" = snapshot_create ] && '
                          'echo snap-0\nexit 0\n' % (tmp_path / "stock.log"))
        script.chmod(0o755)
    env = {"ONESP_SCRIPTS_REMOTE_DIR": str(tmp_path / "remote")}
    r = vm.create(0, env=env)
    assert r.ok, r
    assert r.stdout == "snap-0\n"
    assert vm.run("snapshot_revert-storpool", "snap-0", env=env).ok
    assert vm.run("snapshot_delete-storpool", "snap-0", env=env).ok
    log = (tmp_path / "stock.log").read_text().splitlines()
    assert [line.split()[0].rsplit("/", 1)[1] for line in log] == ["snapshot_create", "snapshot_revert",
                                                                  "snapshot_delete"]
    assert log[0].split()[1:] == ["one-7", "0", "7", "node1"]


# -- VMSNAPSHOT_LIMIT --------------------------------------------------------------------------------


def test_limit_refuses_the_n_plus_first_snapshot(stack, vm):
    records = []
    for snap_id in range(3):
        vm.put(snapshots=records + [stack.b.vm_snapshot(snap_id, "", time=TIME + snap_id, active=True)],
               user_template={"VMSNAPSHOT_LIMIT": "2"})
        r = vm.create(snap_id)
        if snap_id < 2:
            assert r.ok, r
            records.append(stack.b.vm_snapshot(snap_id, r.stdout.strip(), time=TIME + snap_id))
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_create: check VMSNAPSHOT_LIMIT of VM 7: limit reached: VM 7 already has "
                             "2 snapshot(s), VMSNAPSHOT_LIMIT is 2 (the user template of VM 7)"]
    assert len(r.stderr.splitlines()) == 1
    assert len(vm_snapshots_in(stack)) == 2 * len(VOLUMES)


def test_limit_precedence_and_bad_values(stack, vm):
    two_taken = [stack.b.vm_snapshot(0, "ONESNAP-0-1"), stack.b.vm_snapshot(1, "ONESNAP-1-2"),
                 stack.b.vm_snapshot(2, "", time=TIME, active=True)]
    stack.put_datastore(101, kind="SYSTEM", template={"VMSNAPSHOT_LIMIT": "2"})
    vm.put(snapshots=two_taken)
    r = vm.create(2, stdin=False)
    assert r.code != 0 and "VMSNAPSHOT_LIMIT is 2 (datastore 101)" in r.error_lines[0]
    assert vm.create(2, stdin=False, env={"ONESP_VMSNAPSHOT_ENABLE_LIMIT": "0"}).ok

    vm.put(snapshots=two_taken, user_template={"VMSNAPSHOT_LIMIT": "5"})  # the VM's value wins
    assert vm.create(2, stdin=False).ok

    vm.put(snapshots=two_taken, user_template={"VMSNAPSHOT_LIMIT": "lots"})
    r = vm.create(2, stdin=False)
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_create: check VMSNAPSHOT_LIMIT of VM 7: configuration error: "
                             "VMSNAPSHOT_LIMIT in the user template of VM 7: expected a whole number, got 'lots'"]

    stack.put_datastore(101, kind="SYSTEM", template={"VMSNAPSHOT_LIMIT": "x1"})
    vm.put(snapshots=two_taken)
    r = vm.create(2, stdin=False)
    assert r.code != 0 and "VMSNAPSHOT_LIMIT in datastore 101: expected a whole number, got 'x1'" in r.error_lines[0]


# -- failures of the group snapshot and the freeze -----------------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"])
def test_failed_group_snapshot_leaves_no_snapshot(stack, vm, when):
    state = stack.ctl.state(with_bytes=True)
    stack.ctl.inject_fault("VolumesGroupSnapshot", error="insufficientResources", descr="no space", when=when)
    r = vm.create(0)
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_create: take snapshot ONESNAP-0-%d of the 3 volume(s) of VM 7: "
                             "insufficient resources: no space" % TIME]
    assert vm_snapshots_in(stack) == []
    assert stack.ctl.state(with_bytes=True) == state


def test_freeze_and_thaw_around_the_snapshot(stack, vm):
    vm.virsh.configure(stdout={"domfsfreeze": "Froze 2 filesystem(s)\n"})
    r = vm.create(0, env={"ONESP_VMSNAPSHOT_FSFREEZE": "1"})
    assert r.ok, r
    assert vm.virsh.calls() == [["--connect", "qemu:///system", "domfsfreeze", "one-7"],
                                ["--connect", "qemu:///system", "domfsthaw", "one-7"]]
    assert len(vm_snapshots_in(stack)) == 3


def test_freeze_is_thawed_when_the_snapshot_fails(stack, vm):
    vm.virsh.configure()
    stack.ctl.inject_fault("VolumesGroupSnapshot", error="busy", descr="cluster busy")
    r = vm.create(0, env={"ONESP_VMSNAPSHOT_FSFREEZE": "1"})
    assert r.code != 0
    assert vm.virsh.subcommands() == ["domfsfreeze", "domfsthaw"]
    assert vm_snapshots_in(stack) == []


def test_freeze_that_times_out_is_thawed_and_the_snapshot_is_taken(stack, vm):
    vm.virsh.configure(sleep={"domfsfreeze": 3})
    r = vm.create(0, env={"ONESP_VMSNAPSHOT_FSFREEZE": "1", "ONESP_SSH_TIMEOUT": "1"})
    assert r.ok, r
    assert vm.virsh.subcommands() == ["domfsfreeze", "domfsthaw"]
    assert len(vm_snapshots_in(stack)) == 3
    assert "crash-consistent" in stack.log_text()


def test_thaw_failure_after_a_freeze_fails_the_action_and_removes_the_snapshot(stack, vm):
    vm.virsh.configure(fail={"domfsthaw": "error: guest agent is not responding"})
    r = vm.create(0, env={"ONESP_VMSNAPSHOT_FSFREEZE": "1"})
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_create: thaw the filesystems of one-7 on node1: host command failed: "
                             "virsh domfsthaw one-7 on node1: error: guest agent is not responding"]
    assert vm.virsh.subcommands() == ["domfsfreeze", "domfsthaw", "domfsthaw"]
    assert vm_snapshots_in(stack) == []


# -- revert: refusals and all-or-nothing ------------------------------------------------------------------


def snapshot_then_change(stack, vm) -> str:
    assert vm.create(0).ok
    hid = "ONESNAP-0-%d" % TIME
    vm.write(NEW)
    vm.put(snapshots=[stack.b.vm_snapshot(0, hid, time=TIME, active=True)])
    vm.virsh.configure()
    return hid


def test_revert_with_a_missing_snapshot_changes_nothing_and_keeps_the_domain(stack, vm):
    hid = snapshot_then_change(stack, vm)
    stack.sp.snapshot_delete("one-img-6-" + hid)
    state = stack.ctl.state(with_bytes=True)
    r = vm.run("snapshot_revert-storpool", hid)
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_revert: find the snapshots of %s of VM 7: not found: one-img-6-%s missing; "
                             "nothing was changed" % (hid, hid)]
    assert vm.virsh.calls() == []
    assert stack.ctl.state(with_bytes=True) == state


def test_revert_stops_when_the_domain_cannot_be_stopped(stack, vm):
    hid = snapshot_then_change(stack, vm)
    vm.virsh.configure(fail={"destroy": "error: Failed to destroy domain one-7"}, stdout={"domstate": "running\n"})
    state = stack.ctl.state(with_bytes=True)
    r = vm.run("snapshot_revert-storpool", hid)
    assert r.code != 0
    assert r.error_lines == ["vmm snapshot_revert: stop domain one-7 on node1: host command failed: virsh destroy "
                             "one-7 on node1: error: Failed to destroy domain one-7"]
    assert stack.ctl.state(with_bytes=True) == state


@pytest.mark.parametrize("fail, stdout", [
    ({"destroy": "error: domain is not running"}, {"domstate": "shut off\n"}),
    ({"destroy": "error: failed to get domain 'one-7'", "domstate": "error: failed to get domain 'one-7'"}, {}),
])
def test_revert_of_a_stopped_or_vanished_domain_proceeds(stack, vm, fail, stdout):
    hid = snapshot_then_change(stack, vm)
    vm.virsh.configure(fail=fail, stdout=stdout)
    r = vm.run("snapshot_revert-storpool", hid)
    assert r.ok, r
    assert vm.read("one-img-6") == OLD["one-img-6"].ljust(len(NEW["one-img-6"]), b"\0")


@pytest.mark.parametrize("call, match, when", [
    ("VolumeRevert", "one-img-6", "before"),
    ("VolumeRevert", "one-img-6", "after"),
    ("VolumeRevert", "one-sys-7-2-raw", "after"),
    ("VolumeSnapshot", "one-sys-7-2-raw", "after"),
])
def test_revert_failing_midway_leaves_every_disk_with_its_pre_revert_bytes(stack, vm, call, match, when):
    hid = snapshot_then_change(stack, vm)
    state = stack.ctl.state(with_bytes=True)
    stack.ctl.inject_fault(call, error="busy", descr="injected", when=when, match=match)
    r = vm.run("snapshot_revert-storpool", hid)
    assert r.code != 0, r
    assert len(r.error_lines) == 1 and "busy: injected" in r.error_lines[0]
    assert "could not undo" not in r.stderr
    for name in VOLUMES:
        assert vm.read(name) == NEW[name], name
        assert stack.clients_of(name) == {1: "rw"}
    assert stack.ctl.state(with_bytes=True) == state



def test_revert_grows_a_disk_resized_after_the_snapshot_back_to_its_size(stack, vm):
    hid = snapshot_then_change(stack, vm)
    stack.sp.volume_update("one-sys-7-2-raw", size=32 * MIB)
    b = stack.b
    vm.put(disks=[b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16), b.volatile_disk(2, 32)],
           snapshots=[b.vm_snapshot(0, hid, time=TIME, active=True)])
    stack.ctl.reset_calls()
    r = vm.run("snapshot_revert-storpool", hid)
    assert r.ok, r
    assert stack.ctl.counts()["VolumeUpdate"] == 1
    assert stack.volume("one-sys-7-2-raw")["size"] == 32 * MIB
    assert stack.volume("one-img-6")["size"] == 16 * MIB
    assert vm.read("one-sys-7-2-raw") == OLD["one-sys-7-2-raw"].ljust(len(NEW["one-sys-7-2-raw"]), b"\0")


def test_delete_removes_exactly_the_snapshots_of_that_vm_snapshot(stack, vm):
    assert vm.create(0).ok
    hid = "ONESNAP-0-%d" % TIME
    stack.sp.volume_snapshot("one-img-6", "one-img-6-ONESNAP-0-%d" % (TIME + 1))  # same id, other time
    stack.sp.volume_create("one-sys-70-2-raw", size=MIB)
    stack.sp.volume_snapshot("one-sys-70-2-raw", "one-sys-70-2-raw-" + hid)  # another VM's
    vm.put(snapshots=[stack.b.vm_snapshot(0, hid, time=TIME, active=True)])
    r = vm.run("snapshot_delete-storpool", hid)
    assert r.ok, r
    assert vm_snapshots_in(stack) == ["one-img-6-ONESNAP-0-%d" % (TIME + 1), "one-sys-70-2-raw-" + hid]


def test_snapshot_bad_arguments(stack, vm):
    r = stack.vmm("snapshot_create-storpool", "one-7", "x", "7", "node1", env=vm.env)
    assert r.code != 0 and r.error_lines == ["vmm snapshot_create: bad input: invalid snapshot id 'x': expected a "
                                             "non-negative integer"]
    r = stack.vmm("snapshot_revert-storpool", "one-7", "ONESNAP-0-1", "7", env=vm.env)
    assert r.code != 0 and r.error_lines == ["vmm snapshot_revert: bad input: snapshot_revert takes 4 arguments "
                                             "(domain, hypervisor id, VM id, host), got 3"]
    r = stack.vmm("snapshot_delete-storpool", "one-7", "ONESNAP-0-1;rm", "7", "node1", env=vm.env)
    assert r.code != 0 and "invalid VM snapshot id" in r.error_lines[0]
    other = stack.b.vmm_driver_action_xml(stack.put_vm(8), host="node1")
    r = stack.vmm("snapshot_create-storpool", "one-7", "0", "7", "node1", stdin=base64.b64encode(other.encode()),
                  env=vm.env)
    assert r.code != 0 and r.error_lines == ["vmm snapshot_create: bad input: the driver action on stdin describes "
                                             "VM 8, not VM 7"]
    assert vm.virsh.calls() == []


def test_revert_stopped_by_sigterm_puts_every_disk_back(stack, vm, tmp_path):
    hid = snapshot_then_change(stack, vm)
    stdin = tmp_path / "stdin"
    stdin.write_bytes(vm.stdin())
    state = stack.ctl.state(with_bytes=True)
    stack.ctl.reset_calls()
    stack.ctl.set_latency("VolumeRevert", 1000)
    executable = Path(__file__).resolve().parents[2] / "vmm" / "kvm" / "snapshot_revert-storpool"
    with open(stdin, "rb") as handle:
        proc = subprocess.Popen([sys.executable, str(executable), "one-7", hid, str(VM), "node1"],
                                stdin=handle, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(stack.env, **vm.env))
    deadline = time.monotonic() + 20
    while stack.ctl.counts().get("VolumeSnapshot", 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside the first VolumeRevert
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    stack.ctl.set_latency("VolumeRevert", 0)
    assert proc.returncode == 143, err
    assert err.decode().splitlines()[0].startswith("vmm snapshot_revert: revert one-")
    assert "interrupted: stopped by signal 15 (SIGTERM)" in err.decode()
    for name in VOLUMES:
        assert vm.read(name) == NEW[name], name
    assert stack.ctl.state(with_bytes=True) == state

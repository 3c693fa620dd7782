"""VM disk sizes of a system datastore that is not shared, reported the way OpenNebula's host
probe collects them.

oned does not run tm monitor for such a datastore (ImageManager skips non-shared system
datastores). The host's VM probe (im_mad/remotes/node-probes.d/monitor_ds_vm.rb, the same
in 6.10 and 7.0) looks in every ``<datastores>/<id>`` for a ``.monitor`` file, runs
``tm/<its content>/monitor_ds <datastores>/<id>`` from the host's remotes, and passes on
its stdout when it exits 0. ``probe`` below does exactly that, so a marker that names a
driver without that script reports nothing.
"""

import base64
import os
import re
import subprocess
import sys

from onesp.actions.tm import _monitoring as monitoring
from onesp.sim.stack import EXECUTABLE_DIRS

MIB = 1024 * 1024
#: One line per VM as monitord reads it (OpenNebula's template syntax: spaces optional).
VM_LINE = re.compile(r'VM\s*=\s*\[\s*ID\s*=\s*(\d+)\s*,\s*MONITOR\s*=\s*"([A-Za-z0-9+/=]*)"\s*\]\Z')
PAYLOAD_LINE = re.compile(r"(DISK_SIZE=\[ID=\d+,SIZE=\d+\]|SNAPSHOT_SIZE=\[ID=\d+,DISK_ID=\d+,SIZE=\d+\])\Z")


def probe(stack, env):
    """{datastore id: (stdout, stderr)} as the host probe runs the marked datastores' scripts."""
    remotes_tm = EXECUTABLE_DIRS["tm"].parent
    env = dict(env, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    out = {}
    for ds in sorted(os.listdir(stack.ds_location)):
        mark = stack.ds_location / ds / ".monitor"
        if not ds.isdigit() or not mark.exists():
            continue
        script = remotes_tm / (mark.read_text().strip() or "ssh") / "monitor_ds"
        if not script.exists():
            continue
        done = subprocess.run([str(script), str(stack.ds_location / ds)], env=env, capture_output=True, text=True,
                              timeout=60)
        if done.returncode == 0:
            out[int(ds)] = (done.stdout, done.stderr)
    return out


def reported(stdout):
    """{vm id: [payload lines]}, every line checked against the format monitord parses."""
    out = {}
    for line in stdout.splitlines():
        vm_id, encoded = VM_LINE.match(line).groups()
        payload = base64.b64decode(encoded, validate=True).decode("ascii").splitlines()
        assert all(PAYLOAD_LINE.match(item) for item in payload), payload
        out[int(vm_id)] = payload
    return out


def deploy(stack):
    """VM 7 on the unshared system datastore 101 of node1: a non-persistent disk with a snapshot,
    a volatile disk, and (as the bash addon linked them) a persistent disk via storpool-byid.
    VM 8 there has a disk of another driver, a plain file."""
    b = stack.b
    stack.put_datastore(101, kind="SYSTEM", shared=False)
    stack.put_image(5, data=b"boot")
    stack.put_image(6, persistent=True)
    stack.put_vm(7, disks=[b.image_disk(0, 5, size=16), b.volatile_disk(1, 16), b.image_disk(2, 6, persistent=True)])
    r = stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100")
    assert r.ok, r
    r = stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, 1), "7", "101")
    assert r.ok, r
    stack.write_volume("one-img-5-7-0", b"a" * (3 * MIB))
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
    stack.write_volume("one-img-5-7-0", b"b" * MIB)
    stack.write_volume("one-sys-7-1-raw", b"c" * (2 * MIB))
    stack.sp.attach("one-img-6", 1)
    os.symlink(str(stack.dev_dir) + "-byid/" + stack.volume("one-img-6")["globalId"], stack.local_disk(7, 2))
    other = stack.local_disk(8, 0)
    other.parent.mkdir()
    other.write_bytes(b"x" * MIB)


def test_unshared_system_datastore_reports_disk_and_snapshot_sizes_from_the_host(stack):
    deploy(stack)
    assert (stack.ds_location / "101" / ".monitor").read_text() == "storpool\n"
    stack.ctl.reset_calls()
    got = probe(stack, stack.env)
    assert list(got) == [101]
    stdout, stderr = got[101]
    assert stderr == ""
    assert stack.ctl.counts() == {"VolumesSpace": 1, "SnapshotsSpace": 1}
    used = {v["name"]: v["spaceUsed"] for v in stack.sp.volumes_space()}
    snapshots = {s["name"]: s["spaceUsed"] for s in stack.sp.snapshots_space()}
    mb = {name: monitoring.megabytes(size) for name, size in dict(used, **snapshots).items()}
    assert 0 < mb["one-img-5-7-0"] < 16 and mb["one-sys-7-1-raw"] == 2
    assert reported(stdout) == {7: ["DISK_SIZE=[ID=0,SIZE=%d]" % mb["one-img-5-7-0"], "DISK_SIZE=[ID=1,SIZE=2]",
                                    "DISK_SIZE=[ID=2,SIZE=%d]" % mb["one-img-6"],
                                    "SNAPSHOT_SIZE=[ID=0,DISK_ID=0,SIZE=%d]" % mb["one-img-5-7-0-snap0"]]}


def test_a_host_without_an_api_token_reports_device_sizes(stack):
    deploy(stack)
    stack.ctl.reset_calls()
    env = {k: v for k, v in stack.env.items() if not k.endswith("SP_AUTH_TOKEN")}
    got = probe(stack, env)
    stdout, stderr = got[101]
    assert reported(stdout) == {7: ["DISK_SIZE=[ID=0,SIZE=16]", "DISK_SIZE=[ID=1,SIZE=16]", "DISK_SIZE=[ID=2,SIZE=16]"]}
    assert stderr == "monitor_ds: no StorPool API token on this host: reporting device sizes, no snapshot sizes\n"
    assert stack.ctl.counts() == {}


def test_a_datastore_without_storpool_disks_prints_nothing(stack, tmp_path):
    empty = tmp_path / "0"
    (empty / "3").mkdir(parents=True)
    script = EXECUTABLE_DIRS["tm"] / "monitor_ds"
    done = subprocess.run([sys.executable, str(script), str(empty)], env=stack.env, capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    done = subprocess.run([sys.executable, str(script)], env=stack.env, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "monitor_ds: expected one argument, the directory of a system datastore\n"

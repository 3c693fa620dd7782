"""tm clone, run as oned runs it: the per-VM volume of a non-persistent disk."""

import os
import subprocess
import sys

from onesp.sim.stack import EXECUTABLE_DIRS

MIB = 1024 * 1024


def _clone(stack, vm=7, disk=0, image=5, host="node1", **kwargs):
    return stack.tm("clone", "fe:one-ds-100/one-img-%d" % image, stack.disk_path(host, vm, disk), str(vm), "100",
                    **kwargs)


def test_clone_creates_grows_tags_attaches_and_links(stack):
    stack.put_image(5, data=b"bootsector")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=64, original_size=16)],
                 user_template={"VC_POLICY": "daily", "SP_QOSCLASS": "silver;0:gold"})
    stack.ctl.reset_calls()
    r = _clone(stack)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert counts == {"VolumeCreate": 1, "VolumesReassignWait": 1}, counts
    assert r.stdout == ""
    vol = stack.volume("one-img-5-7-0")
    assert vol["size"] == 64 * MIB
    assert vol["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0", "type": "NPERS",
                           "qc": "gold", "vc-policy": "daily"}
    assert vol["templateName"] == "one-ds-100"  # inherited from the image (NO_VOLUME_TEMPLATE=1)
    assert stack.clients_of("one-img-5-7-0") == {1: "rw"}
    link = stack.local_disk(7, 0)
    assert os.readlink(link) == str(stack.dev_dir / "one-img-5-7-0")
    assert (link.parent / "disk.0.monitor").read_text() == "storpool\n"
    assert not (link.parent.parent / ".monitor").exists()  # shared system datastore
    with open(link, "rb") as dev:
        assert dev.read(10) == b"bootsector"


def test_clone_rerun_adopts_and_changes_nothing(stack):
    stack.put_image(5, data=b"boot")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    assert _clone(stack).ok
    with open(stack.local_disk(7, 0), "r+b") as dev:
        dev.write(b"written by the guest")
    before = stack.state()
    again = _clone(stack)
    assert again.ok, again
    assert stack.state() == before
    assert stack.read_volume("one-img-5-7-0", 20) == b"written by the guest"


def test_clone_refuses_a_foreign_volume_of_the_same_name(stack):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    stack.sp.volume_create("one-img-5-7-0", size=MIB, tags={"nvm": "8", "diskid": "0"})
    before = stack.state()
    r = _clone(stack)
    assert r.code != 0
    assert r.error_lines == ["tm clone: create volume one-img-5-7-0: already exists: "
                             "volume one-img-5-7-0 exists and does not belong to this disk"]
    assert stack.state() == before


def test_clone_readonly_mode_and_template_and_unshared_system_ds(stack):
    stack.put_image(5)
    stack.put_datastore(101, kind="SYSTEM", shared=False)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16, readonly=True)])
    r = _clone(stack, env={"ONESP_READONLY_MODE": "ro", "ONESP_NO_VOLUME_TEMPLATE": "0"})
    assert r.ok, r
    vol = stack.volume("one-img-5-7-0")
    assert vol["tags"]["type"] == "NPERSRO"
    assert stack.clients_of("one-img-5-7-0") == {1: "ro"}
    assert (stack.local_disk(7, 0).parent.parent / ".monitor").read_text() == "storpool\n"


def test_clone_of_a_cdrom_is_never_grown(stack):
    stack.put_image(9, type="CDROM")
    stack.put_vm(7, disks=[stack.b.cdrom_disk(0, 9, size=64, original_size=16, extra={"CLONE": "YES"})])
    r = _clone(stack, image=9)
    assert r.ok, r
    vol = stack.volume("one-img-9-7-0")
    assert vol["size"] == 16 * MIB and vol["tags"]["type"] == "CDROM"


def test_clone_each_failing_call_leaves_the_state_as_before(stack):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=32, original_size=16)])
    for call, when in (("VolumeCreate", "before"), ("VolumesReassignWait", "before"),
                       ("VolumesReassignWait", "after")):
        before = stack.state()
        stack.ctl.inject_fault(call, error="invalidParam", when=when, descr="injected")
        r = _clone(stack)
        stack.ctl.clear_faults()
        assert r.code != 0, (call, when)
        assert len(r.error_lines) == 1 and "injected" in r.error_lines[0], r
        assert stack.state() == before, (call, when)
        assert not stack.local_disk(7, 0).exists()


def test_clone_after_a_create_that_failed_client_side_the_rerun_adopts(stack):
    """The create took effect but its answer was lost: the volume is tagged for this disk,
    so oned's retry adopts it instead of failing on 'exists' (the addon's known issue)."""
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=32, original_size=16)])
    stack.ctl.inject_fault("VolumeCreate", error="invalidParam", when="after", descr="injected")
    assert _clone(stack).code != 0
    r = _clone(stack)
    assert r.ok, r
    assert stack.volume("one-img-5-7-0")["size"] == 32 * MIB
    assert stack.clients_of("one-img-5-7-0") == {1: "rw"}


def test_clone_host_failure_rolls_back(stack, tmp_path):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    blocker = stack.ds_location / "101"
    blocker.write_text("a file where the system datastore directory should be")
    before = stack.state()
    r = _clone(stack)
    assert r.code != 0
    assert r.error_lines[0].startswith("tm clone: link %s on node1: host command failed:" % stack.local_disk(7, 0))
    assert stack.state() == before


def test_clone_bad_inputs(stack):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.image_disk(1, 6, persistent=True)])
    r = stack.tm("clone", "fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 0), "7", "100")
    assert r.code != 0 and "does not match disk 0 of VM 7" in r.error_lines[0]
    r = stack.tm("clone", "fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 1), "7", "100")
    assert r.code != 0 and "persistent (CLONE=NO)" in r.error_lines[0]
    r = stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 3), "7", "100")
    assert r.error_lines == ["tm clone: read VM 7: not found: VM 7 has no disk 3"]
    r = stack.tm("clone", "fe:one-ds-100/one-img-5", stack.vm_dir("node1", 7), "7", "100")
    assert r.code != 0 and "is not a disk path" in r.error_lines[0]
    r = stack.tm("clone", "fe:one-ds-100/one-img-5", "node1:/x/disk.0; rm -rf /", "7", "100")
    assert r.code != 0 and r.error_lines[0].startswith("tm clone: bad input:")


#: Runs an executable as oned would, then prints every module it imported. A profile hook makes
#: the driver end with sys.exit instead of os._exit, so this process gets to look.
_LIST_MODULES = (
    "import runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "sys.setprofile(lambda *_: None)\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    sys.setprofile(None)\n"
    "    print('\\n'.join(sorted(sys.modules)))\n"
    "    sys.exit(exc.code)\n"
)
#: Never on the path of a clone run in-process: the views and the decoder it does not read, the
#: StorPool answer types (annotations only), and the server and tool side.
_NOT_FOR_CLONE = ("onesp.one.action", "onesp.one.hookdef", "onesp.one.image", "onesp.runtime.storpoolanswers",
                  "onesp.sim", "onesp.tools", "onesp.runtime.actionserver", "click", "http.server", "sqlite3",
                  "socketserver", "xmlrpc.server")


def test_clone_in_process_imports_only_what_it_uses(stack):
    stack.in_process_expected = True  # in-process on purpose, even when the suite runs with a server
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    argv = ["fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100"]
    proc = subprocess.run([sys.executable, "-c", _LIST_MODULES, str(EXECUTABLE_DIRS["tm"] / "clone"), *argv],
                          env=dict(stack.env, ONESP_SERVER_DIR=""), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert stack.clients_of("one-img-5-7-0") == {1: "rw"}
    modules = proc.stdout.split()
    assert "onesp.actions.tm.clone" in modules
    assert [m for m in modules if any(m == f or m.startswith(f + ".") for f in _NOT_FOR_CLONE)] == []

"""tm snap_create_live with DISK_SNAPSHOT_FSFREEZE: the guest is frozen around the snapshot, always thawed.

A fake ``virsh`` on PATH records each call and whether the snapshot existed at that moment
(it asks the StorPool emulator), which proves the order freeze -> snapshot -> thaw.
"""

import json
import sys
import textwrap

import pytest

SNAP = "one-img-5-7-0-snap0"

FAKE_VIRSH = textwrap.dedent('''\
    #!{python}
    import json, os, sys, urllib.request, urllib.error
    verb = sys.argv[-2]
    url = "http://%s:%s/ctrl/1.0/Snapshot/{snap}" % (os.environ["SP_API_HTTP_HOST"], os.environ["SP_API_HTTP_PORT"])
    request = urllib.request.Request(url, headers={{"Authorization": "Storpool v1:" + os.environ["SP_AUTH_TOKEN"]}})
    try:
        exists = "error" not in json.loads(urllib.request.urlopen(request).read())
    except urllib.error.HTTPError:
        exists = False
    with open(os.environ["FAKE_VIRSH_LOG"], "a") as log:
        log.write(json.dumps({{"argv": sys.argv[1:], "snapshot_exists": exists}}) + "\\n")
    if verb in os.environ.get("FAKE_VIRSH_FAIL", "").split():
        sys.stderr.write("error: fake failure of %s\\n" % verb)
        sys.exit(1)
''')


@pytest.fixture
def live(stack, tmp_path):
    stack.put_image(5, data=b"boot")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)], deploy_id="one-7")
    assert stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100").ok
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    virsh = bindir / "virsh"
    virsh.write_text(FAKE_VIRSH.format(python=sys.executable, snap=SNAP))
    virsh.chmod(0o755)
    log = tmp_path / "virsh.log"
    env = {"PATH": "%s:%s" % (bindir, stack.env["PATH"]), "FAKE_VIRSH_LOG": str(log),
           "ONESP_DISK_SNAPSHOT_FSFREEZE": "1"}
    return stack, env, log


def _calls(log):
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def _live(stack, env):
    return stack.tm("snap_create_live", stack.disk_path("node1", 7, 0), "0", "7", "100", env=env)


def test_freeze_snapshot_thaw_in_this_order(live):
    stack, env, log = live
    r = _live(stack, env)
    assert r.ok, r
    assert _calls(log) == [
        {"argv": ["--connect", "qemu:///system", "domfsfreeze", "one-7"], "snapshot_exists": False},
        {"argv": ["--connect", "qemu:///system", "domfsthaw", "one-7"], "snapshot_exists": True},
    ]


def test_thawed_when_the_snapshot_fails(live):
    stack, env, log = live
    stack.ctl.inject_fault("VolumeSnapshot", error="busy", descr="injected")
    r = _live(stack, env)
    assert r.code != 0
    assert r.error_lines == ["tm snap_create_live: snapshot volume one-img-5-7-0 as %s: busy: injected" % SNAP]
    assert [c["argv"][2] for c in _calls(log)] == ["domfsfreeze", "domfsthaw"]
    assert SNAP not in stack.snapshot_names()


def test_a_failed_freeze_still_snapshots_and_thaws_whatever_froze(live):
    """A freeze that fails (e.g. timed out) may have frozen some filesystems: thaw anyway."""
    stack, env, log = live
    r = _live(stack, dict(env, FAKE_VIRSH_FAIL="domfsfreeze"))
    assert r.ok, r
    assert SNAP in stack.snapshot_names()
    assert [c["argv"][2] for c in _calls(log)] == ["domfsfreeze", "domfsthaw"]
    assert "freezing the filesystems of one-7 failed" in stack.log_text()


def test_no_freeze_unless_configured_and_never_for_snap_create(live):
    stack, env, log = live
    env = dict(env, ONESP_DISK_SNAPSHOT_FSFREEZE="0")
    assert _live(stack, env).ok
    assert stack.tm("snap_create", stack.disk_path("node1", 7, 0), "1", "7", "100",
                    env=dict(env, ONESP_DISK_SNAPSHOT_FSFREEZE="1")).ok
    assert _calls(log) == []
    assert {SNAP, "one-img-5-7-0-snap1"} <= set(stack.snapshot_names())

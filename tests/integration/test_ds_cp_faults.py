"""ds cp under failure: every StorPool call failing (before or after its effect), and SIGTERM mid-import,
leave no staging or final volume, no attachment and no temporary file behind."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

import pytest

from onesp.sim.stack import EXECUTABLE_DIRS
from onesp.sim.storpool import control

MIB = 1024 * 1024
STAGING = "one-img-5-" + hashlib.md5(b"one-img-5\n").hexdigest()
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")

#: A qemu-img stand-in for the worker: with ONESP_TEST_HANG, ``convert`` (the staging volume is
#: attached then) writes its pid there and hangs.
WRAPPER = '''import os, sys, time
if sys.argv[1:2] == ["convert"]:
    if os.environ.get("ONESP_TEST_HANG"):
        with open(os.environ["ONESP_TEST_HANG"] + ".tmp", "w") as marker:
            marker.write(str(os.getpid()))
        os.rename(os.environ["ONESP_TEST_HANG"] + ".tmp", os.environ["ONESP_TEST_HANG"])
        time.sleep(60)
        sys.exit(1)
os.execvp("qemu-img", ["qemu-img"] + sys.argv[1:])
'''


@pytest.fixture
def prepared(stack, tmp_path: Path) -> Tuple[bytes, Dict[str, str]]:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "disk.raw").write_bytes(os.urandom(MIB + 512))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(folder / "disk.raw"),
                    str(folder / "disk.qcow2")], check=True)
    wrapper = tmp_path / "qemu-img-wrapper"
    library = Path(control.__file__).resolve().parents[3]  # the lib/ directory holding onesp
    wrapper.write_text("#!%s\nimport sys\nsys.path.insert(0, %r)\n%s" % (sys.executable, str(library), WRAPPER))
    wrapper.chmod(0o755)
    staging = tmp_path / "staging"
    staging.mkdir()
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(folder)})
    image = stack.b.image_xml(5, source="", path=str(folder / "disk.qcow2"), state=4, size=2)
    stack.oned.put("image", image)
    env = {"ONESP_STAGING_DIR": str(staging), "ONESP_QEMU_IMG": str(wrapper)}
    return base64.b64encode(stack.b.ds_driver_action_xml(ds, image).encode()), env


def assert_nothing_left(stack, before, env) -> None:
    assert stack.state() == before
    assert STAGING not in stack.volume_names() and "one-img-5" not in stack.volume_names()
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


@pytest.mark.parametrize("call, skip, when, step", [
    ("Volume", 0, "before", "look up volume one-img-5"),  # a read: "after" is the same as "before"
    ("VolumeCreate", 0, "before", "create volume " + STAGING),
    ("VolumeCreate", 0, "after", "create volume " + STAGING),
    ("VolumesReassignWait", 0, "before", "attach %s to node2" % STAGING),
    ("VolumesReassignWait", 0, "after", "attach %s to node2" % STAGING),
    ("VolumesReassignWait", 1, "before", "detach %s from all hosts" % STAGING),  # once the data is written
    ("VolumesReassignWait", 1, "after", "detach %s from all hosts" % STAGING),
    ("VolumeUpdate", 0, "before", "rename volume %s to one-img-5" % STAGING),
    ("VolumeUpdate", 0, "after", "rename volume %s to one-img-5" % STAGING),
])
def test_a_failing_storpool_call_leaves_nothing(stack, prepared, call, skip, when, step):
    stdin, env = prepared
    before = stack.state()
    stack.ctl.inject_fault(call, error="busy", when=when, descr="injected", skip=skip)
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.code != 0, r
    assert len(r.error_lines) == 1 and r.error_lines[0] == r.stderr.splitlines()[0]
    assert r.error_lines[0] == "ds cp: %s: busy: injected" % step
    assert "Traceback" not in r.stderr
    stack.ctl.clear_faults()
    assert_nothing_left(stack, before, env)
    again = stack.ds("cp", "5", stdin=stdin, env=prepared[1])
    assert again.ok, again
    assert stack.volume_names() == ["one-img-5"]


def test_sigterm_during_the_conversion_rolls_back(stack, prepared, tmp_path):
    stdin, env = prepared
    before = stack.state()
    marker = tmp_path / "converting"
    proc = subprocess.Popen([sys.executable, str(EXECUTABLE_DIRS["ds"] / "cp"), "5"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(stack.env, **env, ONESP_TEST_HANG=str(marker)))
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), proc.stderr.read()
    assert STAGING in stack.volume_names()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143
    assert err.decode().splitlines()[0].startswith("ds cp: convert ")
    assert "interrupted: stopped by signal 15 (SIGTERM)" in err.decode().splitlines()[0]
    assert out == b""
    assert_nothing_left(stack, before, env)
    with pytest.raises(ProcessLookupError):  # the conversion itself was stopped, not only its shell
        os.kill(int(marker.read_text()), 0)


def test_a_failed_import_logs_its_cause_and_says_one_line(stack, prepared, tmp_path):
    """The line for oned is one line; the log keeps the error behind it (here: the JSON error of a
    qemu-img whose ``info`` prints no JSON)."""
    stdin, env = prepared
    garbled = tmp_path / "qemu-img-garbled"
    garbled.write_text("#!/bin/sh\necho 'no JSON here'\n")
    garbled.chmod(0o755)
    before = stack.state()
    r = stack.ds("cp", "5", stdin=stdin, env=dict(env, ONESP_QEMU_IMG=str(garbled)))
    assert r.code != 0, r
    image = str(tmp_path / "images" / "disk.qcow2")
    assert r.stderr.splitlines() == ["ds cp: inspect %s: bad input: qemu-img info gave no format and size for %s"
                                     % (image, image)]
    failed = [line for line in stack.log_text().splitlines() if "cp failed at " in line]
    assert len(failed) == 1, stack.log_text()
    assert "qemu-img info gave no format and size" in failed[0]
    assert "caused by JSONDecodeError: Expecting value: line 1 column 1" in failed[0]
    assert_nothing_left(stack, before, env)

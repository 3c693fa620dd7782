"""Hostile local accounts and hostile text: what onesp makes on the front-end cannot be
squatted or redirected, a termination is never swallowed, and what oned and the log get
from StorPool, oned or a host is masked before it is cut and carries no control character.

Every run is an executable run as oned runs it, against the stand-ins. The tests run as
root; "another account" is ``nobody``.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from onesp.sim.stack import EXECUTABLE_DIRS, Stack

from .test_secrets import leaks, token_forms

NOBODY = 65534
TAGS = {"virt": "one", "nloc": "one", "nvm": "7"}
VOLUMES = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw", "one-sys-7-3-iso")
#: What a hostile message carries: a screen clear, a title change ended by BEL, a NUL, DEL and a C1 CSI.
HOSTILE = "\x1b[2J\x1b]0;owned\x07 and\x00 nul\x7f \x9b31m"
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files another account owns")


# -- the set-ups -------------------------------------------------------------------------------------
def migrating(stack: Stack) -> bytes:
    """VM 7 running on node1, live-migrating to node2 (premigrate takes the VM's lock); its document."""
    b = stack.b
    stack.put_image(5, data=b"boot-5")
    stack.put_image(6, persistent=True)
    xml = stack.put_vm(7, disks=[b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16),
                                 b.volatile_disk(2, 16)],
                       lcm_state=4, context={"DISK_ID": "3"},
                       history=(b.history("node1", hid=1), b.history("node2", hid=2)))
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(TAGS, diskid="0", type="NPERS"))
    stack.sp.volume_create("one-sys-7-2-raw", size=16 << 20, tags=dict(TAGS, diskid="2", type="VOL"))
    stack.sp.volume_create("one-sys-7-3-iso", size=1 << 20, tags=dict(TAGS, diskid="3", type="CNTXT"))
    vm_dir = stack.ds_location / "101" / "7"
    vm_dir.mkdir(parents=True)
    for disk, name in enumerate(VOLUMES):
        stack.sp.attach(name, 1)
        os.symlink(str(stack.dev_dir / name), vm_dir / ("disk.%d" % disk))
    return base64.b64encode(xml.encode())


def premigrate(stack: Stack, doc: bytes, env: Dict[str, str]):
    return stack.tm("premigrate", "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", stdin=doc, env=env)


def persistent_vm(stack: Stack, history=None) -> None:
    """VM 7 with persistent image 6 as disk 0, to be linked on node1 by tm ln."""
    stack.put_image(6, persistent=True, data=b"persistent")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, size=16)],
                 **({"history": history} if history else {}))


def ln_argv(stack: Stack) -> List[str]:
    return ["fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 0), "7", "100"]


def fake_ssh(stack: Stack, body: str) -> Dict[str, str]:
    """An ``SSH`` command for the host runner: ``body`` (Python, with ``host`` and ``text``)
    runs first, then the command runs on this machine as the local runner would."""
    path = stack.root / "bin" / "ssh"
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!%s\nimport os, sys, time\nargs = sys.argv[1:]\nhost, text = args[args.index('--') + 1:][:2]\n"
                    "%s\nos.execvp('sh', ['sh', '-c', text])\n" % (sys.executable, body))
    path.chmod(0o755)
    return {"ONESP_HOST_EXEC": "ssh", "ONESP_SSH": str(path)}


def one_line(result) -> str:
    assert "Traceback" not in result.stderr, result
    assert len(result.error_lines) == 1, result
    return result.error_lines[0]


# -- item 6: LOCK_DIR and the log file --------------------------------------------------------------
def _refused_lock(stack: Stack, lock_dir: Path, problem: str, fix: str) -> None:
    doc = migrating(stack)
    before = stack.state()
    r = premigrate(stack, doc, {"ONESP_LOCK_DIR": str(lock_dir)})
    assert r.code != 0
    line = one_line(r)
    assert line.startswith("tm premigrate: lock vm-7: configuration error: LOCK_DIR %s %s" % (lock_dir, problem)), line
    assert fix in line and "or set LOCK_DIR in addon-storpoolrc" in line, line
    assert stack.state() == before


def test_a_lock_dir_another_account_made_first_is_refused_and_not_used(stack):
    squatted = stack.root / "lock-squatted"
    squatted.mkdir(mode=0o755)
    os.chown(squatted, NOBODY, NOBODY)
    _refused_lock(stack, squatted, "belongs to uid %d, not to this user (uid 0)" % NOBODY, "remove it as root")
    assert os.listdir(squatted) == []


def test_a_symlinked_lock_dir_is_not_followed(stack):
    target = stack.root / "elsewhere"
    target.mkdir(mode=0o700)
    link = stack.root / "lock-link"
    link.symlink_to(target)
    _refused_lock(stack, link, "is a symbolic link", "remove it")
    assert os.listdir(target) == []  # no lock file made through the link


def test_a_lock_dir_others_can_write_is_refused(stack):
    shared = stack.root / "lock-shared"
    shared.mkdir()
    shared.chmod(0o1777)
    _refused_lock(stack, shared, "is writable by other users (mode 1777)", "chmod 700 it")
    assert os.listdir(shared) == []


def test_a_new_lock_dir_and_its_files_are_private(stack):
    doc = migrating(stack)
    lock_dir = stack.root / "run" / "onesp-locks"
    r = premigrate(stack, doc, {"ONESP_LOCK_DIR": str(lock_dir)})
    assert r.ok, r
    assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o700
    found = {p.name: stat.S_IMODE(p.stat().st_mode) for p in lock_dir.iterdir()}
    assert found.pop("in-process.note", 0o600) == 0o600  # left by an action that found no server (driver.py)
    assert found == {"vm-7.lock": 0o600}


def test_the_log_file_is_made_private_and_never_followed_or_taken_from_another_account(stack):
    persistent_vm(stack)
    umask = os.umask(0o022)  # the usual umask, under which a plainly created file is world-readable
    try:
        r = stack.tm("ln", *ln_argv(stack))
    finally:
        os.umask(umask)
    assert r.ok, r
    assert stat.S_IMODE(stack.log_file.stat().st_mode) == 0o600
    assert "step: " in stack.log_text()

    victim = stack.root / "victim"
    victim.write_text("keep\n")
    link = stack.root / "log-link"
    link.symlink_to(victim)
    r = stack.tm("ln", *ln_argv(stack), env={"ONESP_LOG_FILE": str(link)})
    assert r.ok, r
    assert victim.read_text() == "keep\n"
    assert r.stderr.splitlines() == ["WARN: cannot open log file %s: it is a symbolic link; remove it or set "
                                     "LOG_FILE to another file" % link], r

    theirs = stack.root / "theirs.log"
    theirs.write_text("")
    theirs.chmod(0o666)
    os.chown(theirs, NOBODY, NOBODY)
    r = stack.tm("ln", *ln_argv(stack), env={"ONESP_LOG_FILE": str(theirs)})
    assert r.ok, r
    assert theirs.read_text() == ""
    assert r.stderr.splitlines() == ["WARN: cannot open log file %s: it belongs to uid %d, not to this user; remove "
                                     "it as root or set LOG_FILE to another file" % (theirs, NOBODY)], r


# -- item 7: a termination is never swallowed ----------------------------------------------------------
def _sigterm_at_the_lookup_of_node3(stack: Stack, action: str, argv: List[str]) -> str:
    """Run ``action``, SIGTERM it while it looks up the client id of node3 on node3 itself
    (``storpool_confget`` through ssh, held); its one line, after checking the status, that
    stdout is empty and that the held command was stopped with the action."""
    marker = stack.root / "holding"
    env = dict(stack.env, **fake_ssh(stack, "if host == 'node3':\n    open(%r, 'w').write(str(os.getpid()))\n"
                                            "    time.sleep(60)" % str(marker)))
    proc = subprocess.Popen([sys.executable, str(EXECUTABLE_DIRS["tm"] / action), *argv],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    stderr = err.decode()
    assert proc.returncode == 143, stderr
    assert out == b""
    held = int(marker.read_text())
    for _ in range(100):  # the host command's process group was stopped with the action
        try:
            os.kill(held, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(held, signal.SIGKILL)
        pytest.fail("the held host command still runs")
    lines = [line for line in stderr.splitlines() if line.split(":", 1)[0] not in ("ERROR", "INFO", "WARN", "DEBUG")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_sigterm_at_a_best_effort_lookup_stops_the_action_before_any_change(stack):
    """tm ln looks up the client id of each earlier host of the VM, to detach the disk there,
    and a host it cannot resolve is skipped with a warning (log and carry on). SIGTERM while
    that lookup runs stops the action there: nothing attached, tagged or linked."""
    persistent_vm(stack, history=[stack.b.history("node3", hid=1), stack.b.history("node1", hid=2)])
    before = stack.state()
    line = _sigterm_at_the_lookup_of_node3(stack, "ln", ln_argv(stack))
    assert line == "tm ln: find the StorPool client id of node3: interrupted: stopped by signal 15 (SIGTERM)"
    assert stack.state() == before
    assert not stack.local_disk(7, 0).is_symlink()


def test_sigterm_at_a_best_effort_lookup_undoes_what_the_action_made(stack):
    """tm context makes, links and writes the context volume, then detaches the VM's volumes
    from its earlier hosts, skipping a host it cannot resolve. SIGTERM at that lookup runs the
    undo: the context volume and its link are gone again."""
    context_sh = stack.root / "vms" / "7" / "context.sh"
    context_sh.parent.mkdir(parents=True)
    context_sh.write_text("HOSTNAME='web'\n")
    stack.put_image(6, persistent=True)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, size=16)],
                 history=[stack.b.history("node3", hid=1), stack.b.history("node1", hid=2)])
    before = stack.state()
    line = _sigterm_at_the_lookup_of_node3(stack, "context", [str(context_sh), stack.disk_path("node1", 7, 1), "7", "101"])
    assert line.startswith("tm context: find the StorPool client id of node3: interrupted: stopped by signal 15"), line
    assert stack.state() == before
    assert not stack.local_disk(7, 1).is_symlink()


# -- item 5: masked before cut, no control character ---------------------------------------------------
def test_storpool_error_text_with_control_characters_reaches_oned_and_the_log_escaped(stack):
    persistent_vm(stack)
    stack.ctl.inject_fault("VolumeUpdate", error="invalidParam", descr="bad tag " + HOSTILE)
    r = stack.tm("ln", *ln_argv(stack))
    assert r.code != 0
    line = one_line(r)
    assert not RAW_CONTROL.search(r.stderr), repr(r.stderr)
    assert line.endswith("bad tag \\x1b[2J\\x1b]0;owned\\x07 and\\x00 nul\\x7f \\x9b31m"), line
    log = stack.log_file.read_bytes().decode("utf-8")
    assert "bad tag \\x1b[2J" in log and not RAW_CONTROL.search(log), repr(log[-600:])


def test_host_output_with_control_characters_reaches_oned_escaped(stack):
    persistent_vm(stack)
    env = fake_ssh(stack, "if host == 'node1':\n    sys.stderr.write(%r)\n    sys.exit(3)" % ("  " + HOSTILE + "\n"))
    r = stack.tm("ln", *ln_argv(stack), env=env)
    assert r.code != 0
    line = one_line(r)
    assert line.startswith("tm ln: ") and "host command failed: " in line, line
    assert line.endswith(": \\x1b[2J\\x1b]0;owned\\x07 and\\x00 nul\\x7f \\x9b31m"), line
    assert not RAW_CONTROL.search(r.stderr + stack.log_text()), repr(r.stderr)


def test_the_token_is_masked_before_the_line_is_cut(stack):
    """A message 2,000 characters long with the token across the place the 600-character cut
    falls, and its base64 form further on: no piece of either reaches oned or the log."""
    persistent_vm(stack)
    stack.ctl.inject_fault("VolumeUpdate", error="invalidParam", descr="MARK" + "x" * 1000)
    probe = one_line(stack.tm("ln", *ln_argv(stack)))
    start = probe.index("MARK")
    keep = len(probe.split(" ...[")[0])  # what the cut keeps of the head
    token = stack.token
    encoded = base64.b64encode(b"{\"token\": \"" + token.encode() + b"\"}").decode()
    descr = "y" * (keep - 8 - start) + token + "z" * 700 + encoded + "w" * 1000
    stack.ctl.inject_fault("VolumeUpdate", error="invalidParam", descr=descr)
    r = stack.tm("ln", *ln_argv(stack))
    line = one_line(r)
    pieces = [token[i:i + 6] for i in range(len(token) - 5)]
    assert not [p for p in pieces if p in line], line
    assert len(line) <= 600 and "...[" in line, line
    log = stack.log_text()
    assert not leaks((r.stderr + log).encode(), [token]) and "***" in log
    assert any(form.decode() in descr for form in token_forms(token)[1:])  # the base64 form was there to find

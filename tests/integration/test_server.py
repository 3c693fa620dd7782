"""The resident action server (``onesp server``) and the executables as its clients.

Every run is an executable run as oned runs it (argv, stdin, environment) against the
stand-ins; the same action is compared in-process and through the server byte for byte.
Whether an action ran in a worker is read from the log: the log line carries the pid of
the process that ran the action, which is the executable's own pid only in-process.

Each test runs with both clients: ``compiled`` runs the executable as oned does, which
starts the compiled client (``client.c``, built by scripts/setup); ``python`` runs it with
the interpreter, the Python client (``client.py``) of a front-end without a C compiler.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from onesp.runtime import client as client_module
from onesp.sim.stack import EXECUTABLE_DIRS, REPO, Stack
from onesp.tools.install import compiled

NOTE = "running actions in-process"
NOBODY = 65534
COMPILED = REPO / compiled.RELATIVE


class Launch:
    """The argv that runs an executable through one of the two clients."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, executable: Path, *args: str) -> List[str]:
        return ([str(executable)] if self.kind == "compiled" else [sys.executable, str(executable)]) + list(args)


@pytest.fixture(params=["compiled", "python"])
def launch(request: pytest.FixtureRequest) -> Launch:
    if request.param == "compiled" and not COMPILED.exists():
        if compiled.compiler(os.environ) is None:
            pytest.skip("no C compiler here: the executables use the Python client")
        pytest.fail("%s is not built: run scripts/setup" % COMPILED)
    return Launch(request.param)


@pytest.fixture(autouse=True)
def no_server_of_the_stack(request: pytest.FixtureRequest) -> None:
    """These tests start and stop servers themselves, and run in-process on purpose: with
    ONESP_TEST_SERVER=1 the stack's own server is stopped first."""
    if "stack" in request.fixturenames:
        stack = request.getfixturevalue("stack")
        stack.stop_server()
        stack.in_process_expected = True


def ds_stat(stack: Stack, launch: Launch, env: Optional[Dict[str, str]] = None,
            image: str = "") -> "subprocess.Popen[bytes]":
    """ds stat of a 3-byte image file, its driver action on stdin (the fd the worker must read)."""
    proc = subprocess.Popen(launch(EXECUTABLE_DIRS["ds"] / "stat", "3"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(stack.env, **(env or {})))
    proc.stdin_data = stat_action(stack, image)  # type: ignore[attr-defined]
    return proc


def stat_action(stack: Stack, image: str = "") -> bytes:
    """The driver action of ds stat for a 3-byte raw file (or ``image``) in the stack's directory."""
    source = stack.root / "image.raw"
    source.write_bytes(b"abc")
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(stack.root), "STAGING_DIR": str(stack.root)})
    return stack.ds_action(ds, image_path=image or str(source))


def finish(proc: "subprocess.Popen[bytes]") -> "tuple[int, bytes, bytes]":
    out, err = proc.communicate(proc.stdin_data, timeout=60)  # type: ignore[attr-defined]
    return proc.returncode, out, err


def action_pids(stack: Stack, tag: str) -> List[int]:
    return [int(pid) for pid in re.findall(r" %s\[(\d+)\]" % re.escape(tag), stack.log_text())]


def test_without_a_server_the_action_runs_in_process_and_says_so_once(stack, launch):
    for _ in range(2):
        proc = ds_stat(stack, launch)
        code, out, err = finish(proc)
        assert (code, out, err) == (0, b"1\n", b"")
        assert proc.pid in action_pids(stack, "ds_sp_stat")
    notes = [line for line in stack.log_text().splitlines() if NOTE in line]
    assert len(notes) == 1, notes
    assert stack.env["ONESP_SERVER_DIR"] in notes[0] and "no server" in notes[0]
    stack.start_server()  # a server comes, and goes: the next action without one says so again
    stack.stop_server()
    assert finish(ds_stat(stack, launch))[0] == 0
    assert len([line for line in stack.log_text().splitlines() if NOTE in line]) == 2


def test_through_the_server_stdin_stdout_stderr_and_status_are_the_same_bytes(stack, launch):
    stack.put_image(5)
    failing = {"ONESP_DELAY_DELETE": "many\x1b[2J"}  # a value no action guesses: one line on stderr, exit 1
    runs = {}
    for vm_id, mode in ((7, "in-process"), (8, "server")):
        if mode == "server":
            stack.start_server()
        stack.put_vm(vm_id, disks=[stack.b.image_disk(0, 5)])
        runs[mode] = [finish(ds_stat(stack, launch)), finish(ds_stat(stack, launch, image=str(stack.root / "missing.raw"))),
                      finish(ds_stat(stack, launch, env=failing))]
        clone = stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", vm_id, 0), str(vm_id), "100")
        runs[mode].append((clone.code, clone.stdout, clone.stderr))
    assert runs["server"] == runs["in-process"]
    assert runs["server"][0] == (0, b"1\n", b"")
    assert runs["server"][1][0] != 0 and runs["server"][2][0] != 0 and runs["server"][3][0] == 0
    assert stack.volume("one-img-5-8-0")["tags"]["nvm"] == "8"  # the clone through the server did its work
    pids = action_pids(stack, "ds_sp_stat")
    assert len(set(pids)) == 4, runs  # two per mode: the runs with a bad setting end before logging
    assert len([line for line in stack.log_text().splitlines() if NOTE in line]) == 1  # the in-process runs only


def test_a_worker_has_the_clients_directory_umask_and_environment(stack, tmp_path, launch):
    """A qemu-img first in PATH records what the action's commands inherit, in both modes."""
    real = shutil.which("qemu-img")
    if real is None:
        pytest.skip("qemu-img is not installed")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "record"
    (bindir / "qemu-img").write_text('#!/bin/sh\n{ pwd; umask; echo "$ONESP_TEST_MARK ${%s-unset}"; } >> %s\nexec %s "$@"\n'
                                     % (client_module.FALLBACK, record, real))
    (bindir / "qemu-img").chmod(0o755)
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    umask_then = ["sh", "-c", 'umask 027 && exec "$@"', "sh"]
    doc = stat_action(stack)
    env = dict(stack.env, PATH="%s:%s" % (bindir, stack.env["PATH"]), ONESP_TEST_MARK="mark \u00e9")
    seen = []
    for mode in ("in-process", "server"):
        if mode == "server":
            stack.start_server()
        proc = subprocess.run(umask_then + launch(EXECUTABLE_DIRS["ds"] / "stat", "3"), input=doc, capture_output=True, env=env,
                              cwd=str(workdir), timeout=60)
        assert (proc.returncode, proc.stdout) == (0, b"1\n"), proc.stderr
        seen.append(record.read_text())
        record.unlink()
    assert seen[0] == seen[1] == "%s\n0027\nmark \u00e9 unset\n" % workdir  # the client's own variable never reaches it
    assert len(set(action_pids(stack, "ds_sp_stat"))) == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_executable_reaches_the_worker_which_undoes_its_work(stack, signum, launch):
    stack.start_server()
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    stack.ctl.set_latency("VolumesReassignWait", 3000)  # the clone is created, its attachment in flight
    argv = launch(EXECUTABLE_DIRS["tm"] / "clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=stack.env)
    deadline = time.monotonic() + 30
    while not any(c["call"] == "VolumeCreate" for c in stack.ctl.calls()) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # in the delayed attachment now
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    stack.ctl.set_latency("VolumesReassignWait", 0)
    time.sleep(3.2)  # the delayed call lands
    assert proc.returncode == 128 + signum
    lines = err.decode().splitlines()
    assert re.fullmatch(r"tm clone: .*interrupted: stopped by signal %d \(%s\)" % (signum, signum.name), lines[0])
    assert lines[1:] and lines[1].startswith("ERROR: rolled back")
    assert out == b""
    assert "one-img-5-7-0" not in stack.volume_names() and stack.attachments("one-img-5-7-0") == []
    assert proc.pid not in action_pids(stack, "tm_sp_clone")


def test_a_worker_killed_by_a_signal_ends_its_executable_by_the_same_signal(stack, launch):
    stack.start_server()
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    stack.ctl.set_latency("VolumeCreate", 3000)
    proc = subprocess.Popen(launch(EXECUTABLE_DIRS["tm"] / "clone", "fe:one-ds-100/one-img-5",
                                   stack.disk_path("node1", 7, 0), "7", "100"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=stack.env)
    deadline = time.monotonic() + 30
    while not stack.action_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = stack.action_pids(proc.pid)
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    stack.ctl.set_latency("VolumeCreate", 0)
    assert (proc.returncode, out, err) == (-signal.SIGKILL, b"", b"")


def test_a_server_running_other_code_is_not_used_and_steps_down(stack, tmp_path, launch):
    """A copy of the tree with its own server; a file of the copy changes (an upgrade): the
    executable runs in-process, and the server, whose files changed, stops to be restarted."""
    tree = tmp_path / "installed"
    shutil.copytree(REPO / "lib", tree / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXECUTABLE_DIRS["ds"], tree / "datastore" / "storpool")
    server = subprocess.Popen([sys.executable, "-m", "onesp", "server", "--dir", stack.env["ONESP_SERVER_DIR"]],
                              env=dict(stack.env, PYTHONPATH=str(tree / "lib")), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (Path(stack.env["ONESP_SERVER_DIR"]) / "server.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        doc = stat_action(stack)
        run = lambda shim: subprocess.run(launch(shim, "3"), input=doc,  # noqa: E731
                                          capture_output=True, env=stack.env, timeout=60)
        first = run(REPO / "datastore" / "storpool" / "stat")  # another tree than the server's
        assert (first.returncode, first.stdout, first.stderr) == (0, b"1\n", b"")
        assert "refused the action: it runs the code in %s" % (tree / "lib" / "onesp") in stack.log_text()
        served = run(tree / "datastore" / "storpool" / "stat")
        assert (served.returncode, served.stdout) == (0, b"1\n")
        assert len(set(action_pids(stack, "ds_sp_stat"))) == 2
        helper = tree / "lib" / "onesp" / "runtime" / "naming.py"
        helper.write_text(helper.read_text() + "\n")  # the installed files change under the server
        (stack.root / "locks" / "in-process.note").unlink()
        upgraded = run(tree / "datastore" / "storpool" / "stat")
        assert (upgraded.returncode, upgraded.stdout, upgraded.stderr) == (0, b"1\n", b"")
        assert "it runs the code it loaded before" in stack.log_text()
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory another account owns")
@pytest.mark.parametrize("problem", ["symlink", "others", "owner"])
def test_an_unsafe_server_directory_is_not_used(stack, tmp_path, problem, launch):
    """The server's directory, reached through a symbolic link, open to others, or made by
    another account: the executable runs in-process and the log says why."""
    stack.start_server()
    real = Path(stack.env["ONESP_SERVER_DIR"])
    env = {}
    if problem == "symlink":
        link = tmp_path / "linked"
        link.symlink_to(real)
        env["ONESP_SERVER_DIR"] = str(link)
    elif problem == "others":
        real.chmod(0o755)
    else:
        os.chown(real, NOBODY, NOBODY)
    proc = ds_stat(stack, launch, env=env)
    code, out, err = finish(proc)
    assert (code, out, err) == (0, b"1\n", b"")
    assert proc.pid in action_pids(stack, "ds_sp_stat")
    note = [line for line in stack.log_text().splitlines() if NOTE in line]
    assert len(note) == 1 and "server directory" in note[0], note


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a server as another account")
def test_a_peer_of_another_account_is_refused():
    """A server of ``nobody``: root (which may reach its socket) is still turned away, before
    any descriptor or request is taken. The system's python3: nobody may not run a virtualenv's."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    top = Path(tempfile.mkdtemp(prefix="onesp-peer-"))  # where nobody can reach (pytest's own directory is 0700)
    try:
        top.chmod(0o755)
        directory = top / "server"
        directory.mkdir(mode=0o700)
        os.chown(directory, NOBODY, NOBODY)
        code = ("import sys; sys.path.insert(0, %r); from onesp.runtime import actionserver as server;"
                " sys.exit(server.main(%r, print))") % (
            str(REPO / "lib"), str(directory))
        server = subprocess.Popen([python, "-c", code], cwd=str(top), user=NOBODY, group=NOBODY,
                                  env={"PATH": "/usr/bin:/bin", "HOME": str(directory), "ONESP_RC": "",
                                       "ONESP_LOCK_DIR": str(directory / "locks")},
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not (directory / "server.sock").exists() and time.monotonic() < deadline:
                assert server.poll() is None, server.communicate()[1]
                time.sleep(0.02)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(30)
                conn.connect(str(directory / "server.sock"))
                answer = conn.recv(200)
            assert answer == b"Rpeer uid 0 is not the server's uid %d" % NOBODY
        finally:
            server.terminate()
            server.communicate(timeout=30)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_worker_imports_no_module_its_server_did_not_preload(stack, tmp_path, launch):
    """A server started with PYTHONPROFILEIMPORTTIME writes a line to the descriptor 2 of
    the process that imports a module: in a worker that is the executable's stderr, so the
    actions oned runs most often show there whether their worker loaded anything itself
    (each such module is imported anew in every worker, for every action)."""
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    stack.env["PYTHONPROFILEIMPORTTIME"] = "1"  # the server's environment only, not the executables'
    try:
        stack.start_server()
    finally:
        del stack.env["PYTHONPROFILEIMPORTTIME"]
    conf = tmp_path / "monitord.conf"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as monitord:
        monitord.bind(("127.0.0.1", 0))
        conf.write_text("NETWORK = [\n  PORT = %d,\n  MONITOR_ADDRESS = \"127.0.0.1\"\n]\n" % monitord.getsockname()[1])
        disk = stack.disk_path("node1", 7, 0)
        system_ds = stack.ds_action(stack.system_ds_xml, monitor_vm_disks=True, datastore_location=str(stack.ds_location))
        runs = {"ds monitor": stack.ds("monitor", "100", stdin=stack.ds_action()),
                "tm clone": stack.tm("clone", "fe:one-ds-100/one-img-5", disk, "7", "100"),
                "tm monitor": stack.tm("monitor", "101", stdin=system_ds, env={"ONESP_MONITORD_CONF": str(conf)}),
                "tm delete": stack.tm("delete", disk, "7", "100")}
        code, out, err = finish(ds_stat(stack, launch))
    assert (code, out) == (0, b"1\n")
    assert all(r.ok for r in runs.values()), runs
    stderr = dict({name: r.stderr for name, r in runs.items()}, **{"ds stat": err.decode()})
    imported = {name: [line.split("|")[-1].strip() for line in text.splitlines() if line.startswith("import time:")]
                for name, text in stderr.items()}
    assert imported == {name: [] for name in stderr}
    assert NOTE not in stack.log_text()  # every action ran in a worker
    assert stack.volume_names() == ["one-img-5"]  # the clone was made and deleted through the server

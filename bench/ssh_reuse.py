"""Host commands over ssh with and without the shared connection, against a real sshd (issue 17).

The server is ``onesp.sim.sshd`` (the one tests/security/test_real_ssh.py uses) on 127.0.0.1.
One host command is timed as the actions run it: ``Host.exists`` of a path through
``hostexec.runner_from_config`` with HOST_EXEC=ssh and a LOCK_DIR of its own, three ways,
interleaved run by run:

- shared: the default, one ControlMaster connection per host in ``<LOCK_DIR>/ssh``, already up;
- unshared: ``-o ControlMaster=no`` in the SSH setting (it comes first, so it wins), in a
  LOCK_DIR where no master ever appears: a connection, key exchange and login per command;
- first: a fresh LOCK_DIR each run, so the command is the one that sets the master up.

Then two whole actions in-process (a new process each, as oned runs them) with HOST_EXEC=ssh:
tm clone of image 5 onto node1 and tm delete of that disk, shared and unshared alternately.
sshd's log counts the logins each run made, so the report shows what was shared, and the
benchmark stops when sharing did not happen where it should (the numbers would mean nothing).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

from bench.cluster import BASE_IMAGE, Cluster
from bench.timing import BenchError, percentile
from onesp.runtime.hostexec import Host, runner_from_config
from onesp.sim.sshd import SshdUnavailable, SshServer, running_sshd

FIRST_VM = 700
ACTIONS = ("tm clone", "tm delete")
#: The ways a host command is run, in the report's order.
WAYS = ("shared", "unshared", "first")


@dataclass(frozen=True)
class Timings:
    seconds: List[float]
    logins: List[int]  # sshd logins each run made

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.seconds)

    @property
    def p90_ms(self) -> float:
        return 1000 * percentile(self.seconds, 0.9)

    @property
    def typical_logins(self) -> int:
        return int(statistics.median_low(self.logins))


@dataclass(frozen=True)
class SshReuse:
    """What the run measured, or why it could not (``unavailable``: sshd did not start)."""

    unavailable: str = ""
    command: Dict[str, Timings] = field(default_factory=dict)  # way (WAYS) -> one host command
    actions: Dict[str, Dict[str, Timings]] = field(default_factory=dict)  # action -> shared/unshared -> runs


@dataclass(frozen=True)
class _HostSettings:
    """The three settings ``runner_from_config`` reads."""

    SSH: str
    LOCK_DIR: str
    HOST_EXEC: str = "ssh"


@contextlib.contextmanager
def _lock_dir() -> Iterator[str]:
    """A LOCK_DIR short enough for ssh's control sockets; the masters in it are ended at the end."""
    path = tempfile.mkdtemp(prefix="onesp-sb-")
    try:
        yield path
    finally:
        sockets = os.path.join(path, "ssh")
        for name in os.listdir(sockets) if os.path.isdir(sockets) else []:
            subprocess.run(["ssh", "-o", "ControlPath=%s" % os.path.join(sockets, name), "-O", "exit", "127.0.0.1"],
                           capture_output=True, timeout=30)
        shutil.rmtree(path, ignore_errors=True)


def _sockets(lock_dir: str) -> List[str]:
    directory = os.path.join(lock_dir, "ssh")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def measure(root: Path, runs: int, progress: Callable[[str], None]) -> SshReuse:
    root.mkdir(parents=True)
    try:
        with running_sshd(root) as server:  # SshdUnavailable comes only from starting it
            return _measure(server, runs, root, progress)
    except SshdUnavailable as exc:
        progress("ssh reuse: not measured: %s" % exc)
        return SshReuse(unavailable=(str(exc).splitlines() or ["sshd did not start"])[0])


def _measure(server: SshServer, runs: int, root: Path, progress: Callable[[str], None]) -> SshReuse:
    command = _commands(server, runs, root)
    progress("ssh reuse: one host command %s" % ", ".join(
        "%s %.1f ms" % (way, command[way].median_ms) for way in WAYS))
    actions = _actions(server, runs, root / "cluster")
    progress("ssh reuse: %s" % "; ".join("%s shared %.0f ms, unshared %.0f ms" % (
        name, t["shared"].median_ms, t["unshared"].median_ms) for name, t in actions.items()))
    return SshReuse(command=command, actions=actions)


def _timed(server: SshServer, call: Callable[[], object]) -> Tuple[float, int]:
    logins = server.logins()
    started = time.perf_counter()
    call()
    return time.perf_counter() - started, server.logins() - logins


def _commands(server: SshServer, runs: int, root: Path) -> Dict[str, Timings]:
    plain = server.command_for(server.port)
    path = str(root)
    seconds: Dict[str, List[float]] = {way: [] for way in WAYS}
    logins: Dict[str, List[int]] = {way: [] for way in WAYS}
    with _lock_dir() as shared_dir, _lock_dir() as unshared_dir:
        shared = Host("127.0.0.1", runner_from_config(_HostSettings(plain, shared_dir)))
        unshared = Host("127.0.0.1", runner_from_config(_HostSettings(plain + " -o ControlMaster=no", unshared_dir)))
        if not shared.exists(path):  # sets the master up: "shared" times commands riding on it
            raise BenchError("ssh reuse: %s does not exist on the host" % path)

        def first() -> None:
            with _lock_dir() as fresh:
                host = Host("127.0.0.1", runner_from_config(_HostSettings(plain, fresh)))
                took, made = _timed(server, lambda: host.exists(path))
                if made != 1 or len(_sockets(fresh)) != 1:
                    raise BenchError("ssh reuse: the first command should log in once and leave one master, "
                                     "made %d logins and %s" % (made, _sockets(fresh)))
                seconds["first"].append(took)
                logins["first"].append(made)

        def ride(way: str, host: Host) -> Callable[[], None]:
            def run() -> None:
                took, made = _timed(server, lambda: host.exists(path))
                seconds[way].append(took)
                logins[way].append(made)
            return run

        order = [ride("shared", shared), ride("unshared", unshared), first]
        for n in range(runs):
            for step in order[n % 3:] + order[:n % 3]:
                step()
        if len(_sockets(shared_dir)) != 1 or _sockets(unshared_dir):
            raise BenchError("ssh reuse: expected one shared connection and none unshared, found %s and %s"
                             % (_sockets(shared_dir), _sockets(unshared_dir)))
    if any(logins["shared"]) or min(logins["unshared"]) < 1:
        raise BenchError("ssh reuse: logins per command: shared %s, unshared %s" % (logins["shared"],
                                                                                     logins["unshared"]))
    return {way: Timings(seconds[way], logins[way]) for way in WAYS}


def _actions(server: SshServer, runs: int, root: Path) -> Dict[str, Dict[str, Timings]]:
    """tm clone then tm delete of one disk per run, shared and unshared alternately, in-process."""
    seconds: Dict[str, Dict[str, List[float]]] = {a: {"shared": [], "unshared": []} for a in ACTIONS}
    logins: Dict[str, Dict[str, List[int]]] = {a: {"shared": [], "unshared": []} for a in ACTIONS}
    cluster = Cluster(root, volumes=0, label="ssh")
    try:
        with _lock_dir() as shared_dir, _lock_dir() as unshared_dir:
            ssh = server.command_for(server.port) + " -o HostName=127.0.0.1"
            envs = {"shared": {"ONESP_HOST_EXEC": "ssh", "ONESP_SSH": ssh, "ONESP_LOCK_DIR": shared_dir},
                    "unshared": {"ONESP_HOST_EXEC": "ssh", "ONESP_SSH": ssh + " -o ControlMaster=no",
                                 "ONESP_LOCK_DIR": unshared_dir}}
            vm = FIRST_VM
            for n in range(runs + 1):  # the first round is a warm-up (it also sets the shared master up)
                for mode in (("shared", "unshared") if n % 2 else ("unshared", "shared")):
                    results = _clone_and_delete(cluster, server, vm, envs[mode])
                    vm += 1
                    if n:
                        for name, (took, made) in zip(ACTIONS, results):
                            seconds[name][mode].append(took)
                            logins[name][mode].append(made)
            if len(_sockets(shared_dir)) != 1 or _sockets(unshared_dir):
                raise BenchError("ssh reuse: expected one shared connection and none unshared, found %s and %s"
                                 % (_sockets(shared_dir), _sockets(unshared_dir)))
    finally:
        cluster.close()
    for name in ACTIONS:
        if any(logins[name]["shared"]) or min(logins[name]["unshared"]) < 1:
            raise BenchError("ssh reuse: %s logins per run: shared %s, unshared %s"
                             % (name, logins[name]["shared"], logins[name]["unshared"]))
    return {name: {mode: Timings(seconds[name][mode], logins[name][mode]) for mode in ("shared", "unshared")}
            for name in ACTIONS}


def _clone_and_delete(cluster: Cluster, server: SshServer, vm: int,
                      env: Dict[str, str]) -> List[Tuple[float, int]]:
    s = cluster.stack
    s.put_vm(vm, disks=[s.b.image_disk(0, BASE_IMAGE, size=16)])
    disk = s.disk_path("node1", vm, 0)
    out = []
    for argv, done in ((["clone", "fe:one-ds-100/one-img-%d" % BASE_IMAGE, disk, str(vm), "100"], True),
                       (["delete", disk, str(vm), "100"], False)):
        logins = server.logins()
        started = time.perf_counter()
        result = cluster.run("tm", argv[0], argv[1:], env=env)
        took = time.perf_counter() - started
        if not result.ok or os.path.islink(s.local_disk(vm, 0)) != done:
            raise BenchError("ssh reuse: tm %s of VM %d over ssh (%s): %s" % (
                argv[0], vm, shlex.quote(env["ONESP_SSH"]), (result.error_lines or [result.stderr.strip()])[0]
                if not result.ok else "disk.0 link %s" % ("missing" if done else "left")))
        out.append((took, server.logins() - logins))
    return out

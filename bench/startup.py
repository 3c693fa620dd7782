"""Start-up cost: what every action pays before it does anything.

* bench/import_cost.py (``python -X importtime``) for the cumulative import time of one
  action's entry path and the modules that must stay off it;
* the wall and CPU time of an action that fails at once on bad input (tm resize with a
  size that is not a number: no network, no host), run as oned runs it, in-process and
  through a resident ``onesp server`` (the compiled client when built: the floor every
  action pays in server mode), against a bare ``python3 -c pass`` of the same
  interpreter, all run the same number of times, interleaved;
* the time from spawning a tm clone to its first request to oned (a listener stands in
  for oned and takes the connection): the overhead before any real work, which includes
  the oned client and the document views the failing action never imports.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from bench.timing import BenchError, children_cpu
from onesp.tools.install import compiled

REPO = Path(__file__).resolve().parents[1]
ACTION = "tm/storpool/resize"
BAD_ARGV = ["node1:/var/lib/one/datastores/101/7/disk.0", "not-a-size", "7", "100"]
CLONE = "tm/storpool/clone"
CLONE_ARGV = ["fe:one-ds-100/one-img-5", "node1:/var/lib/one/datastores/101/7/disk.0", "7", "100"]


@dataclass(frozen=True)
class ImportCost:
    """What bench/import_cost.py reports."""

    import_ms: float  # cumulative import time of the entry path (median)
    wall_ms: float  # wall time of the failing action under -X importtime (median)
    largest: List[Tuple[str, float]]  # (module, cumulative ms) of the largest imports
    forbidden: str  # forbidden modules imported, or "none"
    output: str


@dataclass(frozen=True)
class Startup:
    imports: ImportCost
    action_wall: List[float]  # seconds of each failing action run
    action_cpu: List[float]
    bare_wall: List[float]  # seconds of each ``python -c pass``
    bare_cpu: List[float]
    served_wall: List[float]  # seconds of each failing action through the server
    served_cpu: List[float]  # the client's own CPU (the worker is the server's)
    client: str  # which client handed the action to the server
    first_request: List[float]  # seconds from spawning tm clone to its first oned connection

    @staticmethod
    def ms(values: List[float]) -> float:
        return statistics.median(values) * 1000


def _timed(argv: List[str], env: Dict[str, str]) -> Tuple[float, float, subprocess.CompletedProcess]:
    cpu = children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, check=False)
    return time.perf_counter() - started, children_cpu() - cpu, proc


def _until_first_request(argv: List[str], env: Dict[str, str], listener: socket.socket) -> float:
    """Seconds from spawning ``argv`` to the connection it makes to ``listener``; then it is killed."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        proc.kill()
        raise BenchError("%s made no request to oned: %r" % (CLONE, proc.communicate()[1][-300:])) from None
    elapsed = time.perf_counter() - started
    conn.close()
    proc.kill()
    proc.communicate()
    return elapsed


def _start_server(env: Dict[str, str]) -> "subprocess.Popen[bytes]":
    """An ``onesp server`` of this checkout on ``env``'s ONESP_SERVER_DIR, once it listens."""
    server = subprocess.Popen([sys.executable, "-m", "onesp", "server", "--dir", env["ONESP_SERVER_DIR"]],
                              env=dict(env, PYTHONPATH=str(REPO / "lib")), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(env["ONESP_SERVER_DIR"], "server.sock")):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise BenchError("onesp server did not start: %r" % server.communicate()[1][-300:])
        time.sleep(0.02)
    return server


def import_cost(runs: int) -> ImportCost:
    """Run bench/import_cost.py and read its report."""
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "import_cost.py"), "--runs", str(runs),
                           "--action", ACTION], capture_output=True, text=True, check=False)
    out = proc.stdout
    imports = re.search(r"cumulative import time, median of \d+ runs: ([\d.]+) ms", out)
    wall = re.search(r"median: ([\d.]+) ms", out)
    forbidden = re.search(r"forbidden modules imported: (.*)", out)
    if not (imports and wall and forbidden):
        raise BenchError("bench/import_cost.py gave no report (exit %d): %s" % (proc.returncode,
                                                                                (proc.stderr or out)[-300:]))
    largest = [(m.group(2), float(m.group(1))) for m in re.finditer(r"^\s+([\d.]+) ms\s+(\S+)$", out, re.M)]
    return ImportCost(float(imports.group(1)), float(wall.group(1)), largest, forbidden.group(1).strip(), out.strip())


def measure(runs: int, progress: Callable[[str], None]) -> Startup:
    report = import_cost(max(5, runs // 2))
    # run as oned runs them (their first line), with this interpreter as their python3
    env = dict(os.environ, ONESP_RC="", ONESP_SYSLOG="0", ONESP_STORPOOL_CONF="/nonexistent",
               ONESP_LOG_TO_FILE="0", ONESP_SERVER_DIR="",
               PATH="%s:%s" % (os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin")))
    action = [str(REPO / ACTION)] + BAD_ARGV
    bare = [sys.executable, "-c", "pass"]
    clone = [str(REPO / CLONE)] + CLONE_ARGV
    first: List[float] = []
    walls: Dict[str, List[float]] = {"action": [], "bare": [], "served": []}
    cpus: Dict[str, List[float]] = {"action": [], "bare": [], "served": []}
    with tempfile.TemporaryDirectory() as top:
        served_env = dict(env, ONESP_SERVER_DIR=os.path.join(top, "server"), ONESP_LOCK_DIR=os.path.join(top, "locks"))
        server = _start_server(served_env)
        try:
            for _ in range(runs):
                for key, argv, run_env in (("action", action, env), ("served", action, served_env), ("bare", bare, env)):
                    wall, cpu, proc = _timed(argv, run_env)
                    if key != "bare" and (proc.returncode == 0 or b"bad input" not in proc.stderr):
                        raise BenchError("%s did not fail on bad input: %r" % (ACTION, proc.stderr[-200:]))
                    walls[key].append(wall)
                    cpus[key].append(cpu)
        finally:
            server.terminate()
            server.communicate(timeout=30)
    with socket.socket() as listener, tempfile.TemporaryDirectory() as home:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(20)
        auth = os.path.join(home, "one_auth")
        with open(auth, "w") as handle:
            handle.write("oneadmin:bench\n")
        clone_env = dict(env, HOME=home, ONE_AUTH=auth, ONE_XMLRPC="http://127.0.0.1:%d/RPC2" % listener.getsockname()[1])
        for _ in range(runs):
            first.append(_until_first_request(clone, clone_env, listener))
    client = "the compiled client" if (REPO / compiled.RELATIVE).exists() else "the Python client (no compiled one built)"
    result = Startup(imports=report, action_wall=walls["action"], action_cpu=cpus["action"], bare_wall=walls["bare"],
                     bare_cpu=cpus["bare"], served_wall=walls["served"], served_cpu=cpus["served"], client=client,
                     first_request=first)
    progress("startup: imports %.1f ms, failing action %.0f ms (CPU %.0f ms), through the server %.1f ms, "
             "python -c pass %.0f ms, tm clone to its first oned request %.0f ms"
             % (report.import_ms, Startup.ms(result.action_wall), Startup.ms(result.action_cpu),
                Startup.ms(result.served_wall), Startup.ms(result.bare_wall), Startup.ms(first)))
    return result

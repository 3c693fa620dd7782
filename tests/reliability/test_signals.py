"""SIGTERM at each step of tm clone, ds cp and tm premigrate: the undo runs, nothing leaks.

Steps are the StorPool calls of the clean run and its host commands (through hostsim's
``ssh``). For a call, the emulator delays that call name by LATENCY and SIGTERM arrives
while the action waits for it (its connection to the emulator is open and every earlier
call has been answered); the delayed call still takes effect on the server afterwards, as
a real one may. For a host command, the command sleeps before it runs ("before") or after
it ran ("after"), and SIGTERM arrives meanwhile. Each run must exit non-zero with one plain
line ``<kind> <action>: <step>: interrupted: stopped by signal 15 (SIGTERM)``, kill the
held host command, and, once the delayed call has landed, leave the StorPool and host
state exactly as at the start.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

from onesp.sim.stack import Stack

from . import hostsim
from .cells import differences, in_pool
from .scenarios import BY_NAME, Scenario, prepare
from .state import snapshot
from .tally import TALLY
from .test_fault_matrix import skip_without_tools, xfail_params

LATENCY = 1.5  # seconds a delayed call takes (wide: SIGTERM must arrive within it on a busy machine)
STOP_TIMEOUT = 12  # seconds an action may take to undo and exit after SIGTERM (a held command sleeps 60)
SIGNALLED = ("tm clone", "ds cp", "tm premigrate")
INTERRUPTED = "interrupted: stopped by signal 15 (SIGTERM)"

#: (scenario, step key) -> the defect, as reported. Empty: a test of each known defect would
#: be a strict xfail here, which turns red the day the defect is fixed.
KNOWN_DEFECTS: Dict[tuple, str] = {}


@dataclass(frozen=True)
class Step:
    """Call number ``index`` in flight (``when`` = "in flight"), or the host command named
    ``what`` (hostsim: ``<host> <first two words>#<occurrence>``) held before or after it ran."""

    kind: str
    index: int
    what: str
    when: str

    @property
    def key(self) -> str:
        if self.kind == "call":
            return "call%d-in-flight" % self.index
        return "host:%s:%s" % (self.what, self.when)

    def __str__(self) -> str:
        return "%s #%d %s (%s)" % (self.kind, self.index, self.what, self.when)


def log_dir(stack: Stack) -> Path:
    folder = stack.root / "host-log"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def steps_of(stack: Stack, scenario: Scenario) -> List[Step]:
    """The steps of a clean run through hostsim: its calls, then its host commands."""
    invocation = prepare(stack, scenario)
    log = log_dir(stack)
    result = invocation.run(stack, env=hostsim.environment(stack, log))
    assert result.ok, result
    steps = [Step("call", i, "%s(%s)" % (c["call"], c["arg"]), "in flight") for i, c in enumerate(stack.ctl.calls())]
    for i, name in enumerate(hostsim.commands(log)):
        steps += [Step("host", i, name, "before"), Step("host", i, name, "after")]
    return steps


def _sockets_to(pid: int, port: int) -> Set[str]:
    """Inodes of ``pid``'s TCP connections to ``port`` on 127.0.0.1 (from /proc)."""
    try:
        inodes = {os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)}
        lines = Path("/proc/%d/net/tcp" % pid).read_text().splitlines()[1:]
    except OSError:
        return set()
    found = set()
    for line in lines:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and "socket:[%s]" % fields[9] in inodes:
            found.add(fields[9])
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_for(condition, proc: "subprocess.Popen[bytes]", timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def interrupt(stack: Stack, scenario: Scenario, step: Step, call_name: Optional[str]) -> List[str]:
    """Run the scenario, SIGTERM it at ``step``; what is wrong afterwards (empty: all right)."""
    invocation = prepare(stack, scenario)
    start = snapshot(stack)
    log = log_dir(stack)
    hold = "%s:%s" % (step.what, step.when) if step.kind == "host" else None
    env = dict(stack.env, **invocation.env, **hostsim.environment(stack, log, hold))
    port = int(stack.env["SP_API_HTTP_PORT"])
    if call_name:
        stack.ctl.set_latency(call_name, LATENCY * 1000)
    proc = subprocess.Popen(invocation.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    proc.stdin.write(invocation.stdin)
    proc.stdin.close()
    proc.stdin = None
    if step.kind == "call":
        # every earlier call answered, and a connection open for this one (held by the delay)
        def reached() -> bool:
            return len(stack.ctl.calls()) >= step.index and any(_sockets_to(pid, port)
                                                                for pid in stack.action_pids(proc.pid))
        arrived = _wait_for(lambda: reached() and (time.sleep(0.1) or reached()), proc)
    else:
        arrived = _wait_for((log / "holding").exists, proc)
    problems = [] if arrived else ["the action ended before the step was reached"]
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        problems.append("still running %d s after SIGTERM" % STOP_TIMEOUT)
        proc.kill()
        out, err = proc.communicate()
    stderr = err.decode("utf-8", "replace")
    if call_name:
        time.sleep(max(0.0, signalled + LATENCY + 0.3 - time.monotonic()))  # the delayed call lands
        stack.ctl.set_latency(call_name, 0)
    if step.kind == "host" and (log / "holding").exists():
        held = int((log / "holding").read_text())
        deadline = time.monotonic() + 3  # the group was signalled; give it a moment to die
        while _alive(held) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(held):
            problems.append("the held host command (pid %d) still runs" % held)
            os.kill(held, signal.SIGKILL)
    if proc.returncode == 0:
        problems.append("exit status 0")
    lines = [line for line in stderr.splitlines() if line.strip() and line.split(":", 1)[0] not in
             ("ERROR", "INFO", "WARN", "DEBUG")]
    pattern = r"%s: [^:].*: %s" % (re.escape(invocation.label), re.escape(INTERRUPTED))
    if arrived and (len(lines) != 1 or not re.fullmatch(pattern, lines[0])):
        problems.append("stderr is not one line naming the step and the signal: %r" % stderr)
    if "could not undo" in stderr:
        problems.append("an undo step failed: %s" % stderr.strip().splitlines()[-1])
    if out:
        problems.append("stdout %r" % out)
    diff = differences(start, snapshot(stack))
    if diff:
        problems.append("not the starting state: " + "; ".join(diff))
    return problems


@pytest.mark.parametrize("name", SIGNALLED)
def test_sigterm_at_each_step_undoes_everything(stacks, name):
    scenario = BY_NAME[name]
    skip_without_tools(scenario)
    steps = steps_of(stacks[0], scenario)
    calls = stacks[0].ctl.calls()
    known = {key for (n, key) in KNOWN_DEFECTS if n == name}
    assert known <= {s.key for s in steps}, "a known defect's step is no longer generated: update KNOWN_DEFECTS"
    checked = [s for s in steps if s.key not in known]

    def work(stack: Stack, step: Step) -> List[str]:
        return interrupt(stack, scenario, step, calls[step.index]["call"] if step.kind == "call" else None)

    found = in_pool(stacks, checked, work)
    problems = ["%s: %s" % (step, p) for step, ps in zip(checked, found) for p in ps]
    TALLY.add("SIGTERM steps", name, len(steps))
    assert not problems, "%s:\n%s" % (name, "\n".join(problems))


@pytest.mark.parametrize("name, keys", xfail_params(KNOWN_DEFECTS))
def test_known_defect(stacks, name, keys):
    scenario = BY_NAME[name]
    skip_without_tools(scenario)
    steps = steps_of(stacks[0], scenario)
    calls = stacks[0].ctl.calls()
    chosen = [s for s in steps if s.key in keys]
    assert len(chosen) == len(keys), "steps %s are no longer generated" % keys

    def work(stack: Stack, step: Step) -> List[str]:
        return interrupt(stack, scenario, step, calls[step.index]["call"] if step.kind == "call" else None)

    found = in_pool(stacks, chosen, work)
    problems = ["%s: %s" % (step, p) for step, ps in zip(chosen, found) for p in ps]
    assert not problems, "%s:\n%s" % (name, "\n".join(problems))


def test_sigterm_at_the_nvram_file_steps_of_tm_context(stacks):
    """tm context at a deploy writes the NVRAM file (a temporary, then a rename over the path)
    after its volumes are made: SIGTERM before or after either command removes exactly what it
    made. (Only these steps: the whole action ends with an undoable-by-design detach from the
    VM's earlier host, and its device paths differ between stacks.)"""
    scenario = BY_NAME["tm context"]
    skip_without_tools(scenario)
    steps = [s for s in steps_of(stacks[0], scenario) if s.kind == "host"]
    template = next(i for i, s in enumerate(steps) if s.what.startswith("node1 dd of=") and "NVRAM" in s.what)
    checked = steps[template + 2:]
    assert [s.what.split("#")[0] for s in checked][-2:] == ["node1 mv -Tf"] * 2, checked
    problems = ["%s: %s" % (step, p) for step in checked for p in interrupt(stacks[0], scenario, step, None)]
    TALLY.add("SIGTERM steps", "tm context (NVRAM file)", len(checked))
    assert not problems, "\n".join(problems)

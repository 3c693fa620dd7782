"""Recording an action's StorPool calls and replaying it with a fault at one of them.

``record`` runs a scenario once from its starting state and keeps what it did: the calls
in order (``stack.ctl.calls()``), the start and end state, stdout. ``cells`` turns the
calls into positions to fail; ``fault`` injects the failure of exactly the k-th call,
counting the earlier calls of the same name that the rule will see (``skip``).
"""

from __future__ import annotations

import concurrent.futures
import queue
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TypeVar

from onesp.sim.stack import Invocation, Result, Stack

from .scenarios import Scenario, prepare
from .state import Snapshot, snapshot

T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    """Fail call number ``position`` (a ``call`` on ``arg``) ``when`` = before/after its effect."""

    position: int
    call: str
    arg: Optional[str]
    when: str
    skip: int

    def __str__(self) -> str:
        return "#%d %s(%s) %s" % (self.position, self.call, self.arg or "", self.when)

    @property
    def key(self) -> str:
        return "%d-%s-%s" % (self.position, self.call, self.when)


@dataclass(frozen=True)
class Recording:
    """A clean run of a scenario."""

    scenario: Scenario
    invocation: Invocation
    result: Result
    calls: List[Dict[str, Any]]
    start: Snapshot
    end: Snapshot

    @property
    def point_of_no_return(self) -> int:
        """Index of the first successful call the action cannot undo (len(calls) if none)."""
        for index, call in enumerate(self.calls):
            if call["call"] in self.scenario.irreversible and not call["error"]:
                return index
        return len(self.calls)

    @property
    def last_mutation(self) -> int:
        return max((i for i, c in enumerate(self.calls) if c["method"] == "POST"), default=-1)

    def undoable(self, cell: Cell) -> bool:
        """Whether a failure at ``cell`` must leave the starting state: not past the point
        of no return, and not the lost answer of the last mutating call (its effect is the
        action's end state, which a re-run confirms)."""
        if cell.when == "after" and cell.position == self.last_mutation:
            return False
        limit = self.point_of_no_return
        return cell.position < limit or (cell.position == limit and cell.when == "before")


def record(stack: Stack, scenario: Scenario) -> Recording:
    invocation = prepare(stack, scenario)
    start = snapshot(stack)
    result = invocation.run(stack)
    assert result.ok, "%s: the clean run failed: %s" % (scenario.name, result)
    calls = stack.ctl.calls()
    return Recording(scenario, invocation, result, calls, start, snapshot(stack))


def skip_count(calls: Sequence[Mapping[str, Any]], position: int, when: str) -> int:
    """How many earlier calls of the same name a rule for ``when`` examines before ``position``
    (an ``after`` rule sees only calls that succeeded)."""
    name = calls[position]["call"]
    return sum(1 for c in calls[:position] if c["call"] == name and (when == "before" or not c["error"]))


def cells(calls: Sequence[Mapping[str, Any]], whens: Sequence[str] = ("before", "after"),
          methods: Sequence[str] = ("POST",)) -> List[Cell]:
    """Every position of a call with one of ``methods``, before and after its effect; "after"
    only where the call succeeded (a call that failed had no effect whose answer could be lost)."""
    out = []
    for position, call in enumerate(calls):
        if call["method"] not in methods:
            continue
        for when in whens:
            if when == "after" and call["error"]:
                continue
            out.append(Cell(position, call["call"], call["arg"], when, skip_count(calls, position, when)))
    return out


def descr(cell: Cell) -> str:
    return "fault injected at call %d" % cell.position


def fault(stack: Stack, cell: Cell, transient: bool = False, count: int = 1) -> None:
    """Fail the cell's call (``count`` times in a row), with an error no action handles specially."""
    stack.ctl.inject_fault(cell.call, error="internalError", descr=descr(cell), transient=transient,
                           count=count, when=cell.when, skip=cell.skip)


def error_line_problem(result: Result, label: str, message: str) -> Optional[str]:
    """None if stderr has exactly one plain line, ``<label>: <step>: storpool error: <message>``."""
    if "Traceback" in result.stderr:
        return "a traceback on stderr"
    if len(result.error_lines) != 1:
        return "%d plain stderr lines: %r" % (len(result.error_lines), result.error_lines)
    line = result.error_lines[0]
    if line != result.stderr.splitlines()[0]:
        return "the error line is not the first line of stderr"
    pattern = r"%s: (?P<step>[^:].*?): storpool error: %s" % (re.escape(label), re.escape(message))
    if not re.fullmatch(pattern, line):
        return "error line does not name a step and the fault: %r" % line
    return None


def differences(expected: Snapshot, got: Snapshot) -> List[str]:
    """Short descriptions of how ``got`` differs from ``expected``."""
    out = []
    for part in ("volumes", "snapshots"):
        want, have = expected.storpool[part], got.storpool[part]
        for name in sorted(set(want) | set(have)):
            if name not in have:
                out.append("%s %s missing" % (part[:-1], name))
            elif name not in want:
                out.append("%s %s left behind" % (part[:-1], name))
            elif want[name] != have[name]:
                changed = sorted(k for k in set(want[name]) | set(have[name]) if want[name].get(k) != have[name].get(k))
                out.append("%s %s changed: %s" % (part[:-1], name, ", ".join(
                    "%s %r -> %r" % (k, want[name].get(k), have[name].get(k)) for k in changed)))
    attach_want = {(a["name"], a["client"], a["rights"]) for a in expected.storpool["attachments"]}
    attach_have = {(a["name"], a["client"], a["rights"]) for a in got.storpool["attachments"]}
    for a in sorted(attach_want - attach_have):
        out.append("attachment %s on client %d (%s) missing" % a)
    for a in sorted(attach_have - attach_want):
        out.append("attachment %s on client %d (%s) left behind" % a)
    if expected.storpool["templates"] != got.storpool["templates"]:
        out.append("templates changed")
    if expected.storpool.get("kept copies of") != got.storpool.get("kept copies of"):
        out.append("DELAY_DELETE copies kept of %s, expected of %s" % (
            got.storpool.get("kept copies of"), expected.storpool.get("kept copies of")))
    for path in sorted(set(expected.hosts) | set(got.hosts)):
        if path not in got.hosts:
            out.append("host path %s missing" % path)
        elif path not in expected.hosts:
            out.append("host path %s left behind" % path)
        elif expected.hosts[path] != got.hosts[path]:
            out.append("host path %s changed: %s -> %s" % (path, expected.hosts[path], got.hosts[path]))
    return out


def in_pool(stacks: Sequence[Stack], items: Sequence[Any], work: Callable[[Stack, Any], T]) -> List[T]:
    """``work(stack, item)`` for every item, each on a free stack of ``stacks``, in order of items."""
    free: "queue.Queue[Stack]" = queue.Queue()
    for stack in stacks:
        free.put(stack)

    def one(item: Any) -> T:
        stack = free.get()
        try:
            return work(stack, item)
        finally:
            free.put(stack)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(stacks)) as pool:
        return list(pool.map(one, items))

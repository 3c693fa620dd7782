"""Fault matrix: every mutating StorPool call of every mutating action fails once.

For each scenario (scenarios.py) a clean run records the calls the action makes; then, for
each POST call at position k, the action runs again from the same starting state with a
non-transient error injected at call k, once before the call takes effect and once after
(its answer lost). Each such cell must end with a non-zero exit, exactly one plain stderr
line ``<kind> <action>: <step>: storpool error: <fault>``, no failed undo, and:

- before the action's point of no return (declared by the action: ``POINT_OF_NO_RETURN`` of its
  module, e.g. its first deletion, a revert in place, or the start of a delete action's volume
  deletion; see ``Scenario.irreversible``): the StorPool state (volumes, snapshots,
  tags, attachments) and the host state (files, directories, symlinks) exactly as at the
  start;
- past it, or when the answer of the last mutating call is lost: no object that is in
  neither the start nor the end state, and a re-run (what oned does with a failed action)
  succeeds and reaches the clean run's end state (a second DELAY_DELETE copy of a volume
  aside: StorPool deletes those by itself).

The cells come from the recorded calls, so a new call in an action is covered without
editing this file. Cells of a defect already reported are listed in KNOWN_DEFECTS: they are
left out of the matrix test and run by test_known_defect, one strict xfail per defect that
turns red when the defect is fixed (then delete its entries).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

import pytest

from onesp.sim.stack import Stack

from .cells import Cell, Recording, cells, descr, differences, error_line_problem, fault, in_pool, record
from .scenarios import BY_NAME, SCENARIOS, Scenario, prepare, scenario_id
from .state import snapshot
from .tally import TALLY


def _cells(name: str, keys: Iterable[str], why: str) -> Dict[Tuple[str, str], str]:
    return {(name, key): why for key in keys}


#: (scenario, cell key "<position>-<call>-<when>") -> the defect, as reported.
KNOWN_DEFECTS: Dict[Tuple[str, str], str] = {
}


def check_cell(stack: Stack, rec: Recording, cell: Cell) -> List[str]:
    """What is wrong with the run of ``rec``'s scenario failing at ``cell`` (empty: all right)."""
    invocation = prepare(stack, rec.scenario)
    fault(stack, cell)
    result = invocation.run(stack)
    unfired = stack.ctl.faults()
    stack.ctl.clear_faults()
    problems = []
    if unfired:
        problems.append("the fault never fired: the calls before it differ from the clean run")
    if result.code == 0:
        problems.append("exit status 0")
    else:
        problem = error_line_problem(result, invocation.label, descr(cell))
        if problem:
            problems.append(problem)
    if "could not undo" in result.stderr:
        problems.append("an undo step failed: %s" % result.stderr.strip().splitlines()[-1])
    got = snapshot(stack)
    if rec.undoable(cell):
        diff = differences(rec.start, got)
        if diff:
            problems.append("not the starting state: " + "; ".join(diff))
        return problems
    # snapshots that expire by themselves (deleteAfter) are not left behind for good
    stray = got.durable().names() - rec.start.names() - rec.end.names()
    if stray:
        problems.append("objects in neither the start nor the end state: %s" % ", ".join(sorted(stray)))
    again = invocation.run(stack)
    if not again.ok:
        problems.append("the re-run after the failure fails: %s" % (again.error_lines or again.stderr))
    else:
        diff = differences(rec.end.durable(), snapshot(stack).durable())
        if diff:
            problems.append("the re-run does not reach the end state: " + "; ".join(diff))
    return problems


def skip_without_tools(scenario: Scenario) -> None:
    missing = scenario.missing_tools()
    if missing:
        pytest.skip("%s needs %s" % (scenario.name, ", ".join(missing)))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)
def test_each_mutating_call_failing_leaves_the_start_or_the_end_state(stacks, scenario):
    skip_without_tools(scenario)
    rec = record(stacks[0], scenario)
    matrix = cells(rec.calls)
    assert matrix, "%s made no mutating call: %r" % (scenario.name, rec.calls)
    known = {key for (name, key) in KNOWN_DEFECTS if name == scenario.name}
    assert known <= {c.key for c in matrix}, "a known defect's cell is no longer in the matrix: update KNOWN_DEFECTS"
    checked = [c for c in matrix if c.key not in known]
    found = in_pool(stacks, checked, lambda stack, cell: check_cell(stack, rec, cell))
    problems = ["%s: %s" % (cell, p) for cell, ps in zip(checked, found) for p in ps]
    TALLY.add("fault matrix", scenario.name, len(matrix))
    print("%s: %d calls, %d cells, %d of them known defects" % (scenario.name, len(rec.calls), len(matrix), len(known)))
    assert not problems, "%s:\n%s" % (scenario.name, "\n".join(problems))


def defect_groups(known: Dict[Tuple[str, str], str]) -> List[Tuple[str, str, List[str]]]:
    """(scenario, defect, cell keys) for each defect of each scenario, in a stable order."""
    groups: Dict[Tuple[str, str], List[str]] = {}
    for (name, key), why in sorted(known.items()):
        groups.setdefault((name, why), []).append(key)
    return [(name, why, keys) for (name, why), keys in groups.items()]


def xfail_params(known: Dict[Tuple[str, str], str]) -> List[Any]:
    """One strict xfail per (scenario, defect): it turns red when every cell of it passes."""
    return [pytest.param(name, keys, marks=pytest.mark.xfail(strict=True, reason=why),
                         id="%s-%s" % (name.replace(" ", "-"), keys[0])) for name, why, keys in defect_groups(known)]


@pytest.mark.parametrize("name, keys", xfail_params(KNOWN_DEFECTS))
def test_known_defect(stacks, name, keys):
    scenario = BY_NAME[name]
    skip_without_tools(scenario)
    rec = record(stacks[0], scenario)
    chosen = [c for c in cells(rec.calls) if c.key in keys]
    assert len(chosen) == len(keys), "cells %s are no longer in the matrix" % keys
    found = in_pool(stacks, chosen, lambda stack, cell: check_cell(stack, rec, cell))
    problems = ["%s: %s" % (cell, p) for cell, ps in zip(chosen, found) for p in ps]
    assert not problems, "%s:\n%s" % (name, "\n".join(problems))

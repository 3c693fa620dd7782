"""Transient errors: any call of any action failing twice with ``transient: true`` is retried.

The stack runs actions with STORPOOL_RETRIES=2. For every call position of a scenario's
clean run (reads and writes), two transient failures are injected at that call, and the
run must succeed with the clean run's stdout and end in the clean run's end state
(StorPool and hosts).

The failures come before the call takes effect: ``transient: true`` is StorPool's "not
done, try again" (reference storpool-api.md 1.3), which is why the client repeats writes on
it but not after a reset connection. A write that took effect and whose answer was lost is
the fault matrix's "after" cell.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest

from onesp.sim.stack import Stack

from .cells import Cell, Recording, cells, differences, fault, in_pool, record
from .scenarios import BY_NAME, SCENARIOS, prepare, scenario_id
from .state import snapshot
from .tally import TALLY
from .test_fault_matrix import skip_without_tools, xfail_params

#: (scenario, cell key) -> the defect, as reported.
KNOWN_DEFECTS: Dict[Tuple[str, str], str] = {}


def transient_cells(rec: Recording) -> List[Cell]:
    return cells(rec.calls, whens=("before",), methods=("GET", "POST"))


def check_cell(stack: Stack, rec: Recording, cell: Cell) -> List[str]:
    invocation = prepare(stack, rec.scenario)
    fault(stack, cell, transient=True, count=2)
    result = invocation.run(stack)
    unfired = stack.ctl.faults()
    stack.ctl.clear_faults()
    problems = []
    if unfired:
        problems.append("the faults did not both fire: %r" % unfired)
    if not result.ok:
        return problems + ["failed: %s" % (result.error_lines or result.stderr.strip())]
    if result.stdout != rec.result.stdout:
        problems.append("stdout %r, the clean run printed %r" % (result.stdout, rec.result.stdout))
    diff = differences(rec.end, snapshot(stack))
    if diff:
        problems.append("not the clean run's end state: " + "; ".join(diff))
    return problems


@pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)
def test_two_transient_failures_of_any_call_are_retried(stacks, scenario):
    skip_without_tools(scenario)
    rec = record(stacks[0], scenario)
    matrix = transient_cells(rec)
    known = {key for (name, key) in KNOWN_DEFECTS if name == scenario.name}
    assert known <= {c.key for c in matrix}, "a known defect's cell is no longer generated: update KNOWN_DEFECTS"
    checked = [c for c in matrix if c.key not in known]
    found = in_pool(stacks, checked, lambda stack, cell: check_cell(stack, rec, cell))
    problems = ["%s: %s" % (cell, p) for cell, ps in zip(checked, found) for p in ps]
    TALLY.add("transient errors", scenario.name, len(matrix))
    assert not problems, "%s:\n%s" % (scenario.name, "\n".join(problems))


@pytest.mark.parametrize("name, keys", xfail_params(KNOWN_DEFECTS))
def test_known_defect(stacks, name, keys):
    scenario = BY_NAME[name]
    skip_without_tools(scenario)
    rec = record(stacks[0], scenario)
    chosen = [c for c in transient_cells(rec) if c.key in keys]
    assert len(chosen) == len(keys), "cells %s are no longer generated" % keys
    found = in_pool(stacks, chosen, lambda stack, cell: check_cell(stack, rec, cell))
    problems = ["%s: %s" % (cell, p) for cell, ps in zip(chosen, found) for p in ps]
    assert not problems, "%s:\n%s" % (name, "\n".join(problems))

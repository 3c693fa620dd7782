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

from typing import List

import pytest

from onesp.sim.stack import Stack

from .cells import Cell, Recording, cells, differences, fault, in_pool, record
from .scenarios import SCENARIOS, prepare, scenario_id
from .state import snapshot
from .tally import TALLY
from .test_fault_matrix import skip_without_tools


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
    found = in_pool(stacks, matrix, lambda stack, cell: check_cell(stack, rec, cell))
    problems = ["%s: %s" % (cell, p) for cell, ps in zip(matrix, found) for p in ps]
    TALLY.add("transient errors", scenario.name, len(matrix))
    assert not problems, "%s:\n%s" % (scenario.name, "\n".join(problems))

"""The issue's targets, checked against the measurements, with the reason for each miss.

Targets: per-disk TM actions at most 3 StorPool calls and 1 XML-RPC call per object read;
the 10,000 / 10 volumes ratio at most 1.2 for actions on one object, and no call count
growing with the cluster; tm monitor of 1,000 VMs at most 3 StorPool calls; import at
least 90 % of the raw copy's throughput; 32 parallel clones at most 3x one clone. And the
project's aim for start-up: a tm clone reaches its first request (to oned) within 40 ms of
being spawned (the bash addon spends 373 ms before any real work).
"""

from __future__ import annotations

from typing import List, Optional

from bench.scenario import Scenario
from bench.timing import Summary

MAX_DISK_CALLS = 3
MAX_RATIO = 1.2
MAX_MONITOR_CALLS = 3
MIN_IMPORT = 0.90
MAX_PARALLEL = 3.0
MAX_OVERHEAD_MS = 40.0

#: Why an action makes more StorPool calls than the target, when it does (read from its code).
CALL_REASONS = {
    "tm snap_revert": "StorPool refuses VolumeRevert on an attached volume, so the revert itself is three calls "
                      "(detach, VolumeRevert, attach); one read comes on top: the snapshot, to refuse one taken "
                      "from another volume and to know its size (the size to grow back to comes from the disk's "
                      "SIZE in the VM document). Dropping that read would revert without the safety check.",
}


def action_problems(scenario: Scenario, summary: Summary) -> List[str]:
    """Targets a per-action row misses (empty: all met)."""
    problems = []
    if scenario.per_disk and summary.storpool_calls > MAX_DISK_CALLS:
        problems.append("%d StorPool calls > %d" % (summary.storpool_calls, MAX_DISK_CALLS))
    if scenario.name == "tm monitor" and summary.storpool_calls > MAX_MONITOR_CALLS:
        problems.append("%d StorPool calls > %d" % (summary.storpool_calls, MAX_MONITOR_CALLS))
    if summary.xmlrpc_repeats:
        problems.append("an oned object read %d extra time(s)" % summary.xmlrpc_repeats)
    low, high = summary.storpool_range
    if low != high:
        problems.append("StorPool calls vary between runs (%d-%d)" % (low, high))
    return problems


def scaling_problems(scenario: Scenario, small: Summary, large: Summary) -> List[str]:
    problems = []
    ratio = large.median_ms / small.median_ms
    if scenario.per_object and ratio > MAX_RATIO:
        problems.append("ratio %.2f > %.1f" % (ratio, MAX_RATIO))
    if large.storpool_calls != small.storpool_calls:
        problems.append("StorPool calls grow (%d -> %d)" % (small.storpool_calls, large.storpool_calls))
    if large.xmlrpc_calls != small.xmlrpc_calls:
        problems.append("XML-RPC calls grow (%d -> %d)" % (small.xmlrpc_calls, large.xmlrpc_calls))
    return problems


def verdict(problems: List[str], applies: bool = True) -> str:
    if not applies:
        return "n/a"
    return "yes" if not problems else "**no**: " + "; ".join(problems)


def met(flag: Optional[bool]) -> str:
    return "n/a" if flag is None else ("yes" if flag else "**no**")

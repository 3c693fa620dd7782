"""Timing one run of an executable, and summarising many: wall time, StorPool and XML-RPC calls.

The call counts come from the stand-ins' own call logs, reset right before the timed run
(after the run's state was prepared), so they hold exactly what the action asked.
"""

from __future__ import annotations

import collections
import resource
import statistics
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from bench.cluster import Cluster
from bench.scenario import Invocation


class BenchError(Exception):
    """A benchmarked action failed or did not do its work: the numbers would mean nothing."""


@dataclass(frozen=True)
class RunSample:
    seconds: float
    cpu: float  # CPU seconds (user + system) of the action's process and the commands it waited for
    storpool: Dict[str, int]  # StorPool API calls by name
    xmlrpc: Tuple[Tuple[str, Tuple[Any, ...]], ...]  # (method, parameters) in order
    stdout: str

    @property
    def storpool_total(self) -> int:
        return sum(self.storpool.values())

    @property
    def xmlrpc_total(self) -> int:
        return len(self.xmlrpc)

    @property
    def xmlrpc_repeats(self) -> int:
        """Calls that read an object this run had read already (same method and parameters)."""
        return len(self.xmlrpc) - len(set(self.xmlrpc))

    @property
    def xmlrpc_counts(self) -> Dict[str, int]:
        return dict(collections.Counter(method for method, _ in self.xmlrpc))


def timed_run(cluster: Cluster, invocation: Invocation) -> RunSample:
    """Run ``invocation`` as oned does (a new process) and time it from spawn to exit."""
    stack = cluster.stack
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    cpu_before = children_cpu()
    started = time.perf_counter()
    result = cluster.run(invocation.kind, invocation.executable, list(invocation.argv), stdin=invocation.stdin,
                         env=invocation.env)
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu_before
    if not result.ok:
        line = (result.error_lines or [result.stderr.strip()[-300:]] or ["?"])[0]
        raise BenchError("%s %s failed (exit %d) on %s: %s" % (invocation.kind, invocation.executable, result.code,
                                                               cluster.label, line))
    log = stack.oned.call_log()
    return RunSample(seconds, cpu, dict(stack.ctl.counts()), tuple(log.calls), result.stdout)


def children_cpu() -> float:
    """CPU seconds of every child process this one has waited for (they include their own children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (p90 = ``fraction`` 0.9)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def calls_text(counts: Dict[str, int]) -> str:
    """``VolumeCreate, VolumesReassignWait x2`` (names sorted, a count only when above one)."""
    if not counts:
        return "none"
    return ", ".join(name if n == 1 else "%s x%d" % (name, n) for name, n in sorted(counts.items()))


@dataclass(frozen=True)
class Summary:
    """Many runs of one action on one cluster."""

    name: str
    samples: Tuple[RunSample, ...]

    @property
    def runs(self) -> int:
        return len(self.samples)

    @property
    def median_ms(self) -> float:
        return statistics.median(s.seconds for s in self.samples) * 1000

    @property
    def cpu_ms(self) -> float:
        return statistics.median(s.cpu for s in self.samples) * 1000

    @property
    def p90_ms(self) -> float:
        return percentile([s.seconds for s in self.samples], 0.9) * 1000

    def _typical(self, values: List[Any]) -> Any:
        """The most frequent value (ties: the first seen)."""
        return collections.Counter(values).most_common(1)[0][0]

    @property
    def storpool_calls(self) -> int:
        return self._typical([s.storpool_total for s in self.samples])

    @property
    def storpool_range(self) -> Tuple[int, int]:
        totals = [s.storpool_total for s in self.samples]
        return min(totals), max(totals)

    @property
    def storpool_breakdown(self) -> str:
        return calls_text(dict(self._typical([tuple(sorted(s.storpool.items())) for s in self.samples])))

    @property
    def xmlrpc_calls(self) -> int:
        return self._typical([s.xmlrpc_total for s in self.samples])

    @property
    def xmlrpc_breakdown(self) -> str:
        return calls_text(dict(self._typical([tuple(sorted(s.xmlrpc_counts.items())) for s in self.samples])))

    @property
    def xmlrpc_repeats(self) -> int:
        return max(s.xmlrpc_repeats for s in self.samples)

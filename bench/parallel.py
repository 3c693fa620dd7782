"""Parallelism: 32 tm clone of image 5 onto 32 VMs, started together, against one clone alone.

All must succeed, each VM must end with exactly its own volume attached to node1 and
linked, and nothing else may appear (no staging volume, no stray snapshot or attachment).
The single-clone time is the median of a few clones made one at a time on the same
stack; the CPU time those take is measured too, so the report can show the lower bound
that the machine's core count sets for 32 processes.
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from bench.cluster import BASE_IMAGE, Cluster
from bench.timing import BenchError, children_cpu

FIRST_VM = 500
SINGLE_VM = 400


@dataclass(frozen=True)
class ParallelResult:
    clones: int
    single: List[float]  # seconds of each clone made alone
    single_cpu: float  # median CPU seconds (user + system) of one clone process
    total: float  # seconds from the start of the first to the end of the last concurrent clone
    failures: int
    leaked: List[str]  # volumes, snapshots or attachments beyond the expected ones
    cores: int
    cpu: float  # CPU seconds the clones and both stand-ins used during the concurrent run
    machine_busy: float  # fraction of all cores busy (anyone's work) during the concurrent run

    @property
    def single_median(self) -> float:
        return statistics.median(self.single)

    @property
    def ratio(self) -> float:
        return self.total / self.single_median

    @property
    def cpu_bound(self) -> float:
        """Least possible total on this machine: the CPU the run used, spread over every core."""
        return max(self.single_median, self.cpu / self.cores)

    @property
    def cpu_share(self) -> float:
        """Fraction of the machine's cores the run's own processes got while it lasted."""
        return self.cpu / (self.total * self.cores)


def _clone(cluster: Cluster, vm: int) -> "tuple[bool, str]":
    s = cluster.stack
    r = cluster.run("tm", "clone", ["fe:one-ds-100/one-img-%d" % BASE_IMAGE, s.disk_path("node1", vm, 0), str(vm),
                                    "100"])
    return r.ok, (r.error_lines or [r.stderr.strip()])[0] if not r.ok else ""


def _put_vm(cluster: Cluster, vm: int) -> None:
    cluster.stack.put_vm(vm, disks=[cluster.stack.b.image_disk(0, BASE_IMAGE, size=16)])


def _own_cpu() -> float:
    """This process (both stand-ins serve from its threads) and its finished children."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + children_cpu()


def _machine_ticks() -> "tuple[int, int]":
    """(busy, total) jiffies of all CPUs from /proc/stat, or (0, 0) where there is none."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def measure(root: Path, clones: int, singles: int, progress: Callable[[str], None],
            server: bool = False) -> ParallelResult:
    """``server``: through the stack's resident ``onesp server`` (then ``cpu`` leaves out its workers,
    which are not this process's children)."""
    cluster = Cluster(root, volumes=0, label="parallel, server" if server else "parallel", server=server)
    try:
        s = cluster.stack
        single: List[float] = []
        cpu: List[float] = []
        for n in range(singles):
            _put_vm(cluster, SINGLE_VM + n)
            before_cpu, started = children_cpu(), time.perf_counter()
            ok, error = _clone(cluster, SINGLE_VM + n)
            single.append(time.perf_counter() - started)
            cpu.append(children_cpu() - before_cpu)
            if not ok:
                raise BenchError("a single tm clone failed: %s" % error)
        before = s.state()
        vms = list(range(FIRST_VM, FIRST_VM + clones))
        for vm in vms:
            _put_vm(cluster, vm)
        outcomes: List[Optional[str]] = [None] * clones
        gate = threading.Barrier(clones + 1)

        def worker(n: int) -> None:
            gate.wait()
            ok, error = _clone(cluster, vms[n])
            outcomes[n] = "" if ok else error

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(clones)]
        for thread in threads:
            thread.start()
        cpu_before, ticks_before = _own_cpu(), _machine_ticks()
        gate.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        total = time.perf_counter() - started
        cpu_used, ticks_after = _own_cpu() - cpu_before, _machine_ticks()
        busy = (ticks_after[0] - ticks_before[0]) / max(1, ticks_after[1] - ticks_before[1])
        failures = [o for o in outcomes if o]
        result = ParallelResult(clones, single, statistics.median(cpu), total, len(failures),
                                _leaks(cluster, before, vms), os.cpu_count() or 1, cpu_used, busy)
        progress("parallel: %d clones in %.2f s, one clone %.3f s (ratio %.1f), CPU %.2f s, machine busy %.0f %%, "
                 "%d failed, leaks: %s" % (clones, total, result.single_median, result.ratio, cpu_used, 100 * busy,
                                           len(failures), result.leaked or "none"))
        if failures:
            progress("parallel: first failure: %s" % failures[0])
        return result
    finally:
        cluster.close()


def _leaks(cluster: Cluster, before: Dict[str, Any], vms: List[int]) -> List[str]:
    """What the concurrent clones left beyond exactly one attached, linked volume per VM."""
    s = cluster.stack
    after = s.state()
    expected = {"one-img-%d-%d-0" % (BASE_IMAGE, vm) for vm in vms}
    found: List[str] = []
    new_volumes = set(after["volumes"]) - set(before["volumes"])
    found += ["volume %s" % name for name in sorted(new_volumes - expected)]
    found += ["missing volume %s" % name for name in sorted(expected - new_volumes)]
    found += ["snapshot %s" % name for name in sorted(set(after["snapshots"]) - set(before["snapshots"]))]
    for vm in vms:
        name = "one-img-%d-%d-0" % (BASE_IMAGE, vm)
        if name in new_volumes and s.clients_of(name) != {1: "rw"}:
            found.append("attachments of %s: %s" % (name, s.clients_of(name)))
        link = s.local_disk(vm, 0)
        if not os.path.islink(link) or os.readlink(link) != str(s.dev_dir / name):
            found.append("disk.0 of VM %d" % vm)
    return found

"""``bench/run``: every benchmark of issue 10, then docs/benchmarks.md.

    bench/run                      # the full run (under 10 minutes on 2 cores), writes docs/benchmarks.md
    bench/run --quick --output X   # seconds: 1 run per action, tiny clusters and image (what CI runs)
    bench/run --actions "tm clone,ds cp" --no-extras --output X   # just those rows, for a quick look

Order: start-up first (nothing else of ours running), then the per-action tables on all
clusters interleaved (in-process on every size, and through a resident ``onesp server`` on
the smallest and largest), monitoring at scale, parallel clones (both modes), host commands
over a real sshd with and without the shared connection, and the image import last (the
heaviest on the disk). Everything lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from bench import actions, callcost, image_import, machine, monitoring, parallel, report, ssh_reuse, startup
from bench.cluster import start_clusters
from bench.results import ClusterSpec, Results
from bench.timing import BenchError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
MIB = 1024 * 1024



@dataclass(frozen=True)
class Plan:
    """How much of everything one run measures."""

    runs: int  # per action and cluster
    warmup: int  # uncounted runs per action and cluster first
    volumes: Tuple[int, ...]  # seeded cluster sizes; the first also gets the latency column
    latency_ms: float
    monitor_vms: int
    monitor_runs: int
    image_mib: int
    import_rounds: int
    clones: int
    singles: int
    startup_runs: int
    ssh_runs: int  # host commands and tm clone/delete over a real sshd, each way


FULL = Plan(runs=20, warmup=1, volumes=(10, 1000, 10000), latency_ms=2.0, monitor_vms=1000, monitor_runs=5,
            image_mib=2048, import_rounds=5, clones=32, singles=5, startup_runs=20, ssh_runs=20)
#: Proves every part works in seconds (one run per action and cluster); the numbers mean nothing.
QUICK = Plan(runs=1, warmup=0, volumes=(10, 20), latency_ms=2.0, monitor_vms=5, monitor_runs=1, image_mib=16,
             import_rounds=1, clones=4, singles=2, startup_runs=2, ssh_runs=2)


def parse(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves the benchmark works, in seconds")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the Markdown report to write")
    parser.add_argument("--runs", type=int, help="runs per action and cluster (default 20, --quick 1)")
    parser.add_argument("--actions", default="", help="comma-separated rows to measure (default: all 15)")
    parser.add_argument("--no-extras", action="store_true",
                        help="only the per-action tables (no monitoring at scale, start-up, import, parallel, ssh)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def command_line(options: argparse.Namespace) -> str:
    parts = ["bench/run"]
    if options.quick:
        parts.append("--quick")
    if options.runs:
        parts += ["--runs", str(options.runs)]
    if options.actions:
        parts += ["--actions", repr(options.actions)]
    if options.no_extras:
        parts.append("--no-extras")
    if options.output.resolve() != DEFAULT_OUTPUT.resolve():
        parts += ["--output", str(options.output)]
    return " ".join(parts)


def progress(message: str) -> None:
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def main(argv: List[str]) -> int:
    options = parse(argv)
    plan = QUICK if options.quick else FULL
    runs = options.runs or plan.runs
    only = [a.strip() for a in options.actions.split(",") if a.strip()]
    known = [s.name for s in actions.all_scenarios()]
    unknown = [a for a in only if a not in known]
    if unknown:
        sys.stderr.write("bench/run: unknown action(s) %s; known: %s\n" % (", ".join(unknown), ", ".join(known)))
        return 2
    root = Path(tempfile.mkdtemp(prefix="onesp-bench-"))
    started, clock = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
    load_before = machine.load_average()
    try:
        results = measure(options, plan, runs, only, root, clock, started, load_before)
    except BenchError as exc:
        progress("FAILED: %s" % exc)
        return 1
    finally:
        if options.keep:
            progress("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(report.render(results))
    progress("wrote %s in %.0f s" % (options.output, time.perf_counter() - started))
    return 0


def measure(options: argparse.Namespace, plan: Plan, runs: int, only: List[str], root: Path,
            clock: datetime.datetime, started: float, load_before: str) -> Results:
    extras = not options.no_extras
    load = machine.LoadSampler().start()
    startup_result = startup.measure(plan.startup_runs, progress) if extras else None
    specs = [ClusterSpec("%d volumes" % n, n) for n in plan.volumes]
    specs.append(ClusterSpec("%d volumes, +%g ms" % (plan.volumes[0], plan.latency_ms), plan.volumes[0],
                             plan.latency_ms))
    # Server mode on the smallest and largest size, interleaved with the in-process runs.
    specs += [ClusterSpec("%d volumes, server" % n, n, server=True) for n in sorted({plan.volumes[0], plan.volumes[-1]})]
    progress("starting %d clusters: %s" % (len(specs), "; ".join(s.label for s in specs)))
    clusters = start_clusters(root / "clusters", [{"volumes": s.volumes, "latency_ms": s.latency_ms,
                                                    "label": s.label, "server": s.server} for s in specs])
    try:
        tables = actions.measure(clusters, runs, plan.warmup, progress, only)
        costs = [callcost.measure(c, vm_pool=False) if not c.latency_ms and not c.server else {} for c in clusters]
    finally:
        for cluster in clusters:
            cluster.close()
    monitor_result = image_result = parallel_result = parallel_server = ssh_result = None
    if extras:
        monitor_result = monitoring.measure(root / "monitor", plan.monitor_vms, plan.monitor_runs, progress)
        parallel_result = parallel.measure(root / "parallel", plan.clones, plan.singles, progress)
        parallel_server = parallel.measure(root / "parallel-server", plan.clones, plan.singles, progress, server=True)
        ssh_result = ssh_reuse.measure(root / "ssh", plan.ssh_runs, progress)
        image_result = image_import.measure(root / "import", plan.image_mib * MIB, plan.import_rounds, progress)
    scenarios = [s for s in actions.all_scenarios() if not only or s.name in only]
    return Results(command_line(options), options.quick, runs, clock.strftime("%Y-%m-%d %H:%M UTC"),
                   time.perf_counter() - started, machine.describe(), load_before, machine.load_average(),
                   scenarios, specs, tables, costs, monitor_result, startup_result, image_result,
                   parallel_result, parallel_server, *load.stop(), ssh=ssh_result)

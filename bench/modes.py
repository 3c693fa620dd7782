"""Issue 17's targets: every action in-process and through the resident ``onesp server``, side by side.

Both modes run in the same ``bench/run``, interleaved run by run with the other clusters
(bench/actions.py), on 10 and on 10,000 seeded volumes. The targets are spawn-to-exit wall
times per action in server mode (and tm clone in-process), the 10,000 / 10 volumes ratio
of every action in both modes (monitors included), and 32 parallel clones against one.
A miss is reported with how far over the target it is and what the run says about why.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from bench.parallel import ParallelResult
from bench.report_tables import count, ms, table
from bench.results import Results
from bench.startup import Startup
from bench.timing import Summary

#: Spawn to exit through the server, on the 10-volume cluster (ms).
SERVER_MS: Dict[str, float] = {"tm clone": 40, "tm ln": 40, "tm mkimage": 25, "tm delete": 30,
                               "tm snap_create": 30, "ds stat": 20, "ds rm": 20, "tm monitor": 11,
                               "ds monitor": 11}
#: Spawn to exit in-process, on the 10-volume cluster (ms).
IN_PROCESS_MS: Dict[str, float] = {"tm clone": 60}
#: 10,000 / 10 volumes, every action, both modes, monitors included.
MAX_RATIO = 1.2
MAX_PARALLEL = 3.0


def over(measured: float, limit: float, unit: str = " ms") -> Optional[str]:
    """None when ``measured`` meets ``limit``, else by how much it misses (absolute and in %)."""
    if measured <= limit:
        return None
    if unit == "x":
        return "%.2f > %g (%.0f %% over)" % (measured, limit, 100 * (measured / limit - 1))
    return "%s%s > %g%s (%s%s, %.0f %% over)" % (ms(measured), unit, limit, unit, ms(measured - limit), unit,
                                                 100 * (measured / limit - 1))


def load_is_high(res: Results) -> bool:
    """Peak 1-minute load above half the cores: others' work took a real share of the machine."""
    cores = res.machine.get("CPUs (nproc)", "")
    return res.load_peak > (int(cores) if cores.isdigit() else 1) / 2


def action_misses(name: str, local: Tuple[Summary, Summary], served: Tuple[Summary, Summary]) -> List[str]:
    """What an action misses: (small, large) summaries in-process and through the server."""
    out = []
    checks = [("server", served[0].median_ms, SERVER_MS.get(name)),
              ("in-process", local[0].median_ms, IN_PROCESS_MS.get(name))]
    for mode, value, limit in checks:
        miss = over(value, limit) if limit is not None else None
        if miss:
            out.append("%s %s" % (mode, miss))
    for mode, (small, large) in (("in-process", local), ("server", served)):
        miss = over(large.median_ms / small.median_ms, MAX_RATIO, "x")
        if miss:
            out.append("%s ratio %s" % (mode, miss))
    return out


def _target_text(name: str) -> str:
    parts = []
    if name in SERVER_MS:
        parts.append("server <= %g ms" % SERVER_MS[name])
    if name in IN_PROCESS_MS:
        parts.append("in-process <= %g ms" % IN_PROCESS_MS[name])
    return "; ".join(parts + ["ratios <= %.1f" % MAX_RATIO])


def _pairs(res: Results, name: str) -> Optional[Tuple[Tuple[Summary, Summary], Tuple[Summary, Summary]]]:
    small, large = res.clusters[res.base].volumes, res.clusters[res.largest].volumes
    s_small, s_large = res.server_index(small), res.server_index(large)
    if s_small is None or s_large is None:
        return None
    local = (res.tables[res.base][name], res.tables[res.largest][name])
    return local, (res.tables[s_small][name], res.tables[s_large][name])


def section(res: Results) -> List[str]:
    """The issue 17 section: the per-action table of both modes, parallel clones, and the misses."""
    if res.server_index(res.clusters[res.base].volumes) is None:
        return []
    small, large = count(res.clusters[res.base].volumes), count(res.clusters[res.largest].volumes)
    rows: List[Sequence[str]] = []
    misses: List[str] = []
    for scenario in res.scenarios:
        name = scenario.name
        pairs = _pairs(res, name)
        if pairs is None:
            continue
        local, served = pairs
        problems = action_misses(name, local, served)
        rows.append([name, ms(local[0].median_ms), ms(served[0].median_ms), ms(local[1].median_ms),
                     ms(served[1].median_ms), "%.2f" % (local[1].median_ms / local[0].median_ms),
                     "%.2f" % (served[1].median_ms / served[0].median_ms), ms(local[0].cpu_ms),
                     ms(served[0].cpu_ms), _target_text(name),
                     "yes" if not problems else "**no**: " + "; ".join(problems)])
        if problems:
            misses.append(_why(res, name, problems, local, served))
    out = ["## Issue 17: in-process and server mode side by side", "",
           "Every action run %d times in each mode, interleaved run by run with every other column of this "
           "report: **in-process** (`ONESP_SERVER_DIR` empty: the executable runs the action itself) and "
           "**server** (the executable is a client of a resident `onesp server` started on the stack, "
           "as the integration tests run it with `ONESP_TEST_SERVER=1`; the server's worker runs the action). "
           "Medians of the wall time from spawn to exit, on %s and %s seeded volumes; CPU is the executable's "
           "own and what it waited for (in server mode the client only: the worker is the server's child). "
           "%s" % (res.runs, small, large, _load_sentence(res)), ""]
    out += table(["action", "in-process ms, %s vols" % small, "server ms, %s vols" % small,
                  "in-process ms, %s vols" % large, "server ms, %s vols" % large,
                  "ratio %s/%s in-process" % (large, small), "ratio server", "CPU ms in-process",
                  "CPU ms server (client)", "target", "met"], rows, "lrrrrrrrrll")
    parallel_rows = [_parallel_row(mode, p) for mode, p in (("in-process", res.parallel),
                                                            ("server", res.parallel_server)) if p is not None]
    if parallel_rows:
        out += ["", "Parallel clones of one image (section 6 describes the run), target at most %gx one clone "
                "made alone:" % MAX_PARALLEL, ""]
        out += table(["mode", "clones", "together s", "one clone s", "ratio", "failed", "leaked", "met"],
                     parallel_rows, "lrrrrrll")
        for mode, p in (("in-process", res.parallel), ("server", res.parallel_server)):
            if p is not None and p.ratio > MAX_PARALLEL:
                misses.append("- **%d parallel clones, %s** (%s): %d action processes on %d shared cores; the CPU "
                              "the run's own processes were seen to use (%.2f s%s) bounds the ratio at %.1fx at "
                              "least, and the machine's cores were %.0f %% busy while it lasted (section 6)."
                              % (p.clones, mode, over(p.ratio, MAX_PARALLEL, "x"), p.clones, p.cores, p.cpu,
                                 ", the server's workers not counted" if mode == "server" else "",
                                 p.cpu_bound / p.single_median, 100 * p.machine_busy))
    out += ["", "Missed, by how much, and why:", ""]
    out += misses or ["None."]
    return out


def _parallel_row(mode: str, p: ParallelResult) -> List[str]:
    miss = over(p.ratio, MAX_PARALLEL, "x")
    ok = miss is None and not p.failures and not p.leaked
    return [mode, str(p.clones), "%.2f" % p.total, "%.3f" % p.single_median, "%.1fx" % p.ratio, str(p.failures),
            ", ".join(p.leaked) or "nothing", "yes" if ok else "**no**" + (": " + miss if miss else "")]


def _load_sentence(res: Results) -> str:
    cores = res.machine.get("CPUs (nproc)", "?")
    text = ("Load average (1, 5, 15 min) %s at the start, %s at the end; the 1-minute load sampled every 5 s "
            "during the run peaked at %.2f (mean %.2f) on %s cores."
            % (res.load_before, res.load_after, res.load_peak, res.load_mean, cores))
    if load_is_high(res):
        text += (" **The machine was shared and busy: other users' work ran on the same cores, so every wall "
                 "time here is an upper bound** (the CPU columns and the interleaved ratios are steadier).")
    return text


def _why(res: Results, name: str, problems: List[str], local: Tuple[Summary, Summary],
         served: Tuple[Summary, Summary]) -> str:
    reasons = []
    if any(p.startswith("server ") and "ratio" not in p for p in problems):
        floor = res.startup.served_wall if res.startup else None
        reasons.append("in server mode the client used %s ms of CPU and waited %s ms for the worker%s, which "
                       "made the action's %d StorPool and %d XML-RPC call(s) to the stand-ins, Python servers on "
                       "the same cores"
                       % (ms(served[0].cpu_ms), ms(max(0.0, served[0].median_ms - served[0].cpu_ms)),
                          " (an action that fails on its arguments takes %s ms through the server: section 4)"
                          % ms(Startup.ms(floor)) if floor else "", served[0].storpool_calls,
                          served[0].xmlrpc_calls))
    if any(p.startswith("in-process ") and "ratio" not in p for p in problems):
        bare = Startup.ms(res.startup.bare_wall) if res.startup else None
        reasons.append("in-process the action used %s ms of CPU%s: interpreter start, imports and the action "
                       "(section 4)" % (ms(local[0].cpu_ms), ", a bare `python3 -c pass` %s ms of it" % ms(bare)
                                        if bare is not None else ""))
    for mode, (small, large) in (("in-process", local), ("server", served)):
        if any(p.startswith("%s ratio" % mode) for p in problems):
            # In server mode the client's CPU leaves out the worker that does the work: the
            # in-process CPU ratio of the same action is the one that tells whether the work grows.
            cpu = local[1].cpu_ms / local[0].cpu_ms
            if large.storpool_calls != small.storpool_calls or large.xmlrpc_calls != small.xmlrpc_calls:
                reasons.append("%s: call counts grow with the cluster" % mode)
            elif cpu <= MAX_RATIO:
                reasons.append("%s: same calls at both sizes and an in-process CPU ratio of %.2f, so the "
                               "wall-time ratio is the shared machine's load, not more work" % (mode, cpu))
            else:
                reasons.append("%s: same %d StorPool call(s) at both sizes but an in-process CPU ratio of %.2f: "
                               "the answers grow with the cluster (%s; section 2)"
                               % (mode, large.storpool_calls, cpu, large.storpool_breakdown))
    if load_is_high(res):
        reasons.append("the run's load peaked at %.2f" % res.load_peak)
    return "- **%s** (%s): %s." % (name, "; ".join(problems), "; ".join(reasons))

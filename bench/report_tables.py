"""The per-action sections of docs/benchmarks.md: cost (1), scaling (2), added latency (7)."""

from __future__ import annotations

from typing import List, Sequence

from bench import targets
from bench.results import Results


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> List[str]:
    """Markdown table; ``align`` holds one letter per column (l or r), left by default."""
    marks = [("---:" if (align[n:n + 1] or "l") == "r" else "---") for n in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return out


def ms(value: float) -> str:
    return "%.1f" % value if value < 10 else "%.0f" % value


def count(n: int) -> str:
    return "{:,}".format(n)


def per_action(res: Results) -> List[str]:
    data = res.tables[res.base]
    spec = res.clusters[res.base]
    rows = []
    for scenario in res.scenarios:
        s = data[scenario.name]
        rows.append([scenario.name, ms(s.median_ms), ms(s.p90_ms), ms(s.cpu_ms), str(s.storpool_calls),
                     s.storpool_breakdown, str(s.xmlrpc_calls), s.xmlrpc_breakdown,
                     targets.verdict(targets.action_problems(scenario, s))])
    out = ["## 1. Per-action cost", "",
           "Each action run %d times (a new process each time, as oned runs it) on a cluster of %s seeded volumes "
           "(with as many snapshots and attachments); wall time from spawn to exit, CPU time of the action's "
           "process and the commands it waited for, and the calls the stand-ins logged during the run. The "
           "targets checked: a per-disk TM action (tm clone ... tm resize) makes at most %d StorPool calls; "
           "tm monitor at most %d; no action reads an oned object twice (1 XML-RPC call per object read). "
           "ds actions have no StorPool call target." % (s.runs, count(spec.volumes), targets.MAX_DISK_CALLS,
                                                          targets.MAX_MONITOR_CALLS), ""]
    out += table(["action", "median ms", "p90 ms", "CPU ms", "StorPool calls", "which", "XML-RPC calls", "which",
                  "target met"], rows, "lrrrrlrll")
    out += ["", "What one run does:", ""]
    out += ["- **%s**: %s" % (scenario.name, scenario.what) for scenario in res.scenarios]
    return out


def scaling(res: Results) -> List[str]:
    columns = res.scale_columns
    small, large = res.tables[res.base], res.tables[res.largest]
    headers = ["action"] + ["%s vols ms" % count(res.clusters[n].volumes) for n in columns]
    headers += ["ratio %s/%s" % (count(res.clusters[res.largest].volumes), count(res.clusters[res.base].volumes)),
                "CPU ratio", "StorPool calls", "XML-RPC calls", "target met"]
    rows = []
    for scenario in res.scenarios:
        name = scenario.name
        ratio = large[name].median_ms / small[name].median_ms
        cpu_ratio = large[name].cpu_ms / small[name].cpu_ms
        rows.append([name] + [ms(res.tables[n][name].median_ms) for n in columns]
                    + ["%.2f" % ratio, "%.2f" % cpu_ratio,
                       " / ".join(str(res.tables[n][name].storpool_calls) for n in columns),
                       " / ".join(str(res.tables[n][name].xmlrpc_calls) for n in columns),
                       targets.verdict(targets.scaling_problems(scenario, small[name], large[name]))])
    out = ["## 2. Scaling with the cluster", "",
           "The same runs on clusters of %s seeded volumes, each with one snapshot and attached to one of 16 "
           "StorPool clients in turn (so VolumesList, SnapshotsList and AttachmentsList grow with the cluster). "
           "Medians; the runs of every column were interleaved (run i of an action on each cluster in rotating "
           "order before run i+1), so the shared machine's changing load falls on all columns alike. Target: "
           "ratio at most %.1f for every action on one object, and no call count that grows with the cluster "
           "(for the two monitors the time may grow with what they report; their call counts may not). The CPU "
           "ratio (CPU time of the action's processes, same columns) is less sensitive to the machine's load: "
           "where the wall-time ratio moves and it does not, the action did the same work."
           % (" / ".join(count(res.clusters[n].volumes) for n in columns), targets.MAX_RATIO), ""]
    out += table(headers, rows, "l" + "r" * (len(columns) + 4) + "l")
    notes = []
    for scenario in res.scenarios:
        name, big = scenario.name, large[scenario.name]
        grew = big.median_ms / small[scenario.name].median_ms
        if scenario.per_object or grew <= targets.MAX_RATIO:
            continue
        calls = sorted(c for c in res.call_costs[res.largest] if c in big.storpool_breakdown)
        answer = sum(res.call_costs[res.largest][c] for c in calls)
        notes.append("%s (%.1fx) makes the same %d call(s) at every size, but %s cover%s the whole cluster: at %s "
                     "volumes the emulator alone takes %s ms to answer them (table below), the rest of the growth "
                     "is the action reading those answers." % (name, grew, big.storpool_calls, ", ".join(calls),
                                                              "" if len(calls) > 1 else "s",
                                                              count(res.clusters[res.largest].volumes), ms(answer)))
    if notes:
        out += ["", "Growth of the monitors, which answer for a whole datastore: " + " ".join(notes)]
    costs = [res.call_costs[n] for n in columns]
    if all(costs):
        out += ["", "Time the emulator takes to answer the whole-cluster calls of the two monitors, asked directly "
                "from the benchmark process (median of 3; no action around them):", ""]
        calls = list(costs[0])
        out += table(["call"] + ["%s vols ms" % count(res.clusters[n].volumes) for n in columns],
                     [[call] + [ms(c[call]) for c in costs] for call in calls], "l" + "r" * len(columns))
    return out


def latency(res: Results) -> List[str]:
    n = res.latency
    if n is None:
        return []
    base, slow = res.tables[res.base], res.tables[n]
    added_ms = res.clusters[n].latency_ms
    rows = []
    for scenario in res.scenarios:
        name = scenario.name
        extra = slow[name].median_ms - base[name].median_ms
        calls = slow[name].storpool_calls
        per_call = "%.1f" % (extra / calls) if calls else "-"
        rows.append([name, ms(base[name].median_ms), ms(slow[name].median_ms), "%+.0f" % extra, str(calls),
                     per_call, targets.verdict(targets.action_problems(scenario, slow[name]))])
    out = ["## 7. With %g ms of added latency per StorPool call" % added_ms, "",
           "The per-action table again on a cluster of %s volumes whose emulator sleeps %g ms before answering "
           "each API call (`stack.ctl.set_latency(\"*\", %g)`), interleaved with the other columns: what a real "
           "network round trip costs each action. StorPool calls are made one after another, so the added time "
           "is about %g ms per call; more than that per call is noise of the shared machine."
           % (count(res.clusters[n].volumes), added_ms, added_ms, added_ms), ""]
    out += table(["action", "median ms (0 ms)", "median ms (%g ms)" % added_ms, "added ms", "StorPool calls",
                  "added ms per call", "target met"], rows, "lrrrrrl")
    return out

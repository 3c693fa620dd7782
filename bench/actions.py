"""Per-action tables: every scenario run N times on several clusters, interleaved.

The clusters (10, 1,000 and 10,000 seeded volumes, and 10 volumes with 2 ms of added
latency per StorPool call) are measured run by run in rotating order — run ``i`` of an
action on every cluster before run ``i+1`` on any — so the load other users put on this
shared machine falls on every column alike and the 10,000 / 10 ratio compares like with
like. Warm-up runs (one per action and cluster in the full run) come first and are not counted.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence

from bench import ds_scenarios, tm_scenarios
from bench.cluster import Cleanup, Cluster
from bench.scenario import Scenario
from bench.timing import BenchError, RunSample, Summary, timed_run


def all_scenarios() -> List[Scenario]:
    """The 15 actions of the issue, in the order the tables list them."""
    return tm_scenarios.scenarios() + ds_scenarios.scenarios()


def measure(clusters: List[Cluster], runs: int, warmup: int, progress: Callable[[str], None],
            only: Sequence[str] = ()) -> List[Dict[str, Summary]]:
    """For each cluster, {action name: Summary of ``runs`` runs after ``warmup`` uncounted ones}."""
    per_cluster = [all_scenarios() for _ in clusters]  # scenarios keep per-cluster files/documents
    results: List[Dict[str, Summary]] = [{} for _ in clusters]
    for k in range(len(per_cluster[0])):
        name = per_cluster[0][k].name
        if only and name not in only:
            continue
        cleanups = [Cleanup(cluster) for cluster in clusters]
        for cluster, scenarios in zip(clusters, per_cluster):
            scenarios[k].setup(cluster)
        samples: List[List[RunSample]] = [[] for _ in clusters]
        for i in range(warmup + runs):
            for n in _rotation(len(clusters), i):
                scenario, cluster = per_cluster[n][k], clusters[n]
                sample = timed_run(cluster, scenario.prepare(cluster, i))
                problem = scenario.check(cluster, i, sample.stdout)
                if problem:
                    raise BenchError("%s run %d on %s did not do its work: %s" % (name, i, cluster.label, problem))
                if i >= warmup:
                    samples[n].append(sample)
        for n, cleanup in enumerate(cleanups):
            cleanup.run()
            results[n][name] = Summary(name, tuple(samples[n]))
        progress("%-15s %s" % (name, "  ".join("%s %.0f ms" % (c.label, results[n][name].median_ms)
                                                for n, c in enumerate(clusters))))
    return results


def _rotation(count: int, i: int) -> List[int]:
    return [(i + n) % count for n in range(count)]

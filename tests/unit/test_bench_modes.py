"""The issue 17 section of docs/benchmarks.md (bench/modes.py): both modes side by side, each
target met or missed by how much, and the load the run saw."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import modes  # noqa: E402
from bench.results import ClusterSpec, Results  # noqa: E402
from bench.timing import RunSample, Summary  # noqa: E402


class _Named:
    """The two attributes of a scenario the section reads."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.per_object = True


def _summary(name: str, ms: float, cpu_ms: float = 10.0, calls: int = 1) -> Summary:
    sample = RunSample(ms / 1000, cpu_ms / 1000, {"Volume": calls}, (), "")
    return Summary(name, (sample,) * 3)


def _results(times: Dict[str, List[float]], load_peak: float) -> Results:
    """``times``: action -> [in-process 10, in-process 10000, server 10, server 10000] (ms)."""
    specs = [ClusterSpec("10", 10), ClusterSpec("10000", 10000), ClusterSpec("10 s", 10, server=True),
             ClusterSpec("10000 s", 10000, server=True)]
    tables = [{name: _summary(name, t[n]) for name, t in times.items()} for n in range(4)]
    return Results("bench/run", False, 3, "now", 1.0, {"CPUs (nproc)": "2"}, "0.10, 0.10, 0.10",
                   "2.00, 1.00, 0.50", [_Named(name) for name in times], specs, tables,  # type: ignore[misc]
                   [{} for _ in specs], None, None, None, None, None, load_peak, 1.5)


def test_over_says_by_how_much_a_target_is_missed() -> None:
    assert modes.over(40, 40) is None
    assert modes.over(50, 40) == "50 ms > 40 ms (10 ms, 25 % over)"
    assert modes.over(1.5, 1.2, "x") == "1.50 > 1.2 (25 % over)"


def test_section_puts_both_modes_side_by_side_with_each_miss() -> None:
    res = _results({"tm clone": [55, 56, 45, 46], "ds stat": [50, 70, 15, 15], "tm mkswap": [50, 50, 30, 30]},
                   load_peak=2.5)
    text = "\n".join(modes.section(res))
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| tm ")
            or line.startswith("| ds ")}
    assert rows["tm clone"].startswith("| tm clone | 55 | 45 | 56 | 46 | 1.02 | 1.02 |")
    assert "**no**: server 45 ms > 40 ms (5.0 ms, 12 % over)" in rows["tm clone"]
    assert "in-process" not in rows["tm clone"].split("**no**")[1]  # 55 ms meets the in-process 60 ms
    assert "**no**: in-process ratio 1.40 > 1.2 (17 % over)" in rows["ds stat"]
    assert rows["tm mkswap"].endswith("| ratios <= 1.2 | yes |")  # no time target, flat ratios
    assert "- **tm clone** (server 45 ms > 40 ms" in text and "- **ds stat** (in-process ratio" in text
    assert "- **tm mkswap**" not in text
    assert "peaked at 2.50 (mean 1.50) on 2 cores" in text and "upper bound" in text


def test_a_server_ratio_miss_is_explained_by_the_in_process_cpu() -> None:
    """The client's CPU leaves out the worker: growth of the work shows in the in-process CPU only."""
    res = _results({"tm monitor": [50, 50, 30, 60]}, load_peak=0.4)
    res.tables[1]["tm monitor"] = _summary("tm monitor", 50, cpu_ms=30)  # the in-process work tripled
    text = "\n".join(modes.section(res))
    assert "server ratio 2.00 > 1.2" in text
    assert "server: same 1 StorPool call(s) at both sizes but an in-process CPU ratio of 3.00" in text


def test_a_quiet_machine_is_not_called_busy() -> None:
    res = _results({"tm clone": [50, 50, 30, 30]}, load_peak=0.4)
    text = "\n".join(modes.section(res))
    assert "upper bound" not in text and "Missed, by how much, and why:\n\nNone." in text


def test_no_server_columns_no_section() -> None:
    res = _results({"tm clone": [50, 50, 30, 30]}, load_peak=0.4)
    only_local = Results(*[getattr(res, f) for f in ("command", "quick", "runs", "started", "elapsed", "machine",
                                                      "load_before", "load_after", "scenarios")],
                         res.clusters[:2], res.tables[:2], res.call_costs[:2], None, None, None, None)
    assert modes.section(only_local) == []

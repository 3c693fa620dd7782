#!/usr/bin/env python3
"""Import cost of one action's entry path, from ``python -X importtime``.

Runs a TM shim the way oned does, with arguments it rejects at once (so no network is
touched), and reports the cumulative import time of the whole process and of the
largest imports; fails if a module that must stay off the start-up path was imported.

    python bench/import_cost.py [--runs N] [--action tm/storpool/resize]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("click", "http.server", "sqlite3", "onesp.sim", "onesp.tools", "xmlrpc.server", "socketserver")


def importtime(shim: Path, argv: List[str]) -> Tuple[Dict[str, int], int, float]:
    """Cumulative import microseconds per module, total of top-level imports, wall seconds."""
    env = dict(os.environ, ONESP_RC="", ONESP_SYSLOG="0", ONESP_STORPOOL_CONF="/nonexistent")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", str(shim), *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    cumulative: Dict[str, int] = {}
    top = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cum_us, name = line.split("|", 2)
        depth = len(name) - len(name.lstrip()) - 1  # one space after the bar, two more per level
        module = name.strip()
        cumulative[module] = int(cum_us)
        if depth == 0:
            top += int(cum_us)
    return cumulative, top, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--action", default="tm/storpool/resize")
    options = parser.parse_args()
    shim = REPO / options.action
    argv = ["node1:/var/lib/one/datastores/101/7/disk.0", "not-a-size", "7", "100"]
    totals, walls = [], []
    modules: Dict[str, int] = {}
    for _ in range(options.runs):
        modules, total, wall = importtime(shim, argv)
        totals.append(total)
        walls.append(wall)
    leaked = sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    print("entry path: %s (fails on bad input, no I/O)" % options.action)
    print("cumulative import time, median of %d runs: %.1f ms" % (options.runs, statistics.median(totals) / 1000))
    print("wall time of the failing action (process start to exit), median: %.1f ms" % (statistics.median(walls) * 1000))
    print("largest imports (cumulative, last run):")
    for name, micros in sorted(modules.items(), key=lambda kv: -kv[1])[:12]:
        print("  %8.1f ms  %s" % (micros / 1000, name))
    print("forbidden modules imported: %s" % (", ".join(leaked) or "none"))
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Spawn-to-exit time of the cheap actions in-process and through the resident action server.

Two clusters of 10 seeded volumes: on one the executables run the action themselves
(``ONESP_SERVER_DIR`` empty), on the other an ``onesp server`` runs it in a worker. Run
``i`` of an action goes on both clusters before run ``i+1`` on either (bench/actions.py),
so the load others put on a shared machine falls on both columns alike. Every run is
checked to have done its work, as in the main benchmark. The CPU columns count the
executable and what it waited for: in-process the whole action, with a server only the
client (the worker is the server's child).

    .venv/bin/python bench/server_mode.py [--runs 20] [--actions 'tm clone,ds stat']
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "lib")]

from bench import actions  # noqa: E402
from bench.cluster import start_clusters  # noqa: E402
from bench.timing import BenchError  # noqa: E402

#: Issue 17's targets, spawn to exit, through the server (ms); in-process: tm clone only.
SERVER_TARGETS: Dict[str, float] = {"tm clone": 40, "tm ln": 40, "tm mkimage": 25, "tm delete": 30,
                                    "tm snap_create": 30, "ds stat": 20, "ds rm": 20, "tm monitor": 11,
                                    "ds monitor": 11}
IN_PROCESS_TARGETS: Dict[str, float] = {"tm clone": 60}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--actions", default=",".join(SERVER_TARGETS))
    options = parser.parse_args(argv)
    only = [a.strip() for a in options.actions.split(",") if a.strip()]
    root = Path(tempfile.mkdtemp(prefix="onesp-bench-server-"))
    clusters = start_clusters(root, [{"volumes": 10, "label": "in-process"}, {"volumes": 10, "label": "server"}])
    try:
        clusters[0].env["ONESP_SERVER_DIR"] = ""  # never try a server: the executable as before
        clusters[1].stack.start_server()

        def say(line: str) -> None:
            sys.stderr.write(line + "\n")

        tables = actions.measure(clusters, options.runs, options.warmup, say, only)
    except BenchError as exc:
        sys.stderr.write("bench/server_mode.py: %s\n" % exc)
        return 1
    finally:
        for cluster in clusters:
            cluster.close()
        shutil.rmtree(root, ignore_errors=True)
    print("| action | in-process ms | server ms | CPU in-process ms | CPU of the client ms | target (server) |"
          " target (in-process) |")
    print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
    for name in only:
        local, served = tables[0][name], tables[1][name]
        goal = SERVER_TARGETS.get(name)
        goal_local = IN_PROCESS_TARGETS.get(name)
        print("| %s | %.0f | %.0f | %.0f | %.0f | %s | %s |" % (
            name, local.median_ms, served.median_ms, local.cpu_ms, served.cpu_ms,
            "<= %g: %s" % (goal, "yes" if served.median_ms <= goal else "**no**") if goal else "",
            "<= %g: %s" % (goal_local, "yes" if local.median_ms <= goal_local else "**no**") if goal_local else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Monitoring at scale: tm monitor of a system datastore holding many VMs.

Each VM has 3 non-persistent disks (clones of image 5), each disk with 10 snapshots that
the VM document lists, all seeded in the emulator (``one-img-5-<vm>-<disk>`` and
``...-snap0..9``, attached to the StorPool clients in turn). The monitor's MONITOR_VM
datagrams are received and decoded, so a run counts only if every VM got its disk and
snapshot sizes.
"""

from __future__ import annotations

import base64
import os
import pstats
import re
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from bench import callcost
from bench.cluster import BASE_IMAGE, MIB, Cluster
from bench.timing import BenchError, RunSample, timed_run
from onesp.sim.stack import EXECUTABLE_DIRS, Invocation

DISKS = 3
SNAPSHOTS = 10
FIRST_VM = 100
_VM_LINE = re.compile(r'VM=\[ID=(\d+),MONITOR="([A-Za-z0-9+/=]*)"\]\Z')


@dataclass(frozen=True)
class MonitorScale:
    vms: int
    volumes: int
    snapshots: int
    setup_seconds: float
    samples: List[RunSample]
    reported_vms: int
    reported_disks: int
    reported_snapshots: int
    call_costs: Dict[str, float]  # the stand-ins' own time per call the monitor makes (ms)
    profile: List[Tuple[str, int, float]]  # (onesp function, calls, cumulative ms under cProfile)

    @property
    def median_ms(self) -> float:
        return statistics.median(s.seconds for s in self.samples) * 1000

    @property
    def storpool_calls(self) -> int:
        return self.samples[-1].storpool_total

    @property
    def storpool_breakdown(self) -> Dict[str, int]:
        return self.samples[-1].storpool

    @property
    def xmlrpc_calls(self) -> int:
        return self.samples[-1].xmlrpc_total


def populate(cluster: Cluster, vms: int) -> None:
    s, b = cluster.stack, cluster.stack.b
    snaps = [b.disk_snapshot(n, parent=n - 1, active=n == SNAPSHOTS - 1) for n in range(SNAPSHOTS)]
    clients = list(range(1, 17))
    for n, vm in enumerate(range(FIRST_VM, FIRST_VM + vms)):
        s.put_vm(vm, disks=[b.image_disk(d, BASE_IMAGE, size=1024, snapshots=snaps) for d in range(DISKS)])
        s.sp_sim.seed(DISKS, prefix="one-img-%d-%d-" % (BASE_IMAGE, vm), size=1024 * MIB, template="one-ds-101",
                      tags={"virt": "one", "nloc": "one", "nvm": str(vm)}, snapshots=SNAPSHOTS,
                      attach=[clients[n % len(clients)]])


def decode(payloads: List[bytes]) -> Dict[int, List[str]]:
    """{vm id: monitor lines} from MONITOR_VM datagrams."""
    found: Dict[int, List[str]] = {}
    for data in payloads:
        for message in data.decode("ascii").splitlines():
            body = message.split()[4]
            for line in zlib.decompress(base64.b64decode(body)).decode("ascii").splitlines():
                match = _VM_LINE.match(line)
                if match:
                    found[int(match.group(1))] = base64.b64decode(match.group(2)).decode("ascii").splitlines()
    return found


def measure(root: Path, vms: int, runs: int, progress: Callable[[str], None]) -> MonitorScale:
    started = time.perf_counter()
    cluster = Cluster(root, volumes=0, label="%d VMs" % vms)
    try:
        populate(cluster, vms)
        setup = time.perf_counter() - started
        progress("monitor scale: %d VMs, %d volumes, %d snapshots seeded in %.1f s"
                 % (vms, vms * DISKS, vms * DISKS * SNAPSHOTS, setup))
        s = cluster.stack
        stdin = s.ds_action(s.system_ds_xml, monitor_vm_disks=True, datastore_location=str(s.ds_location))
        samples: List[RunSample] = []
        found: Dict[int, List[str]] = {}
        for _ in range(runs):
            cluster.monitord.take()
            samples.append(timed_run(cluster, Invocation("tm", "monitor", ("101",), stdin=stdin)))
            found = _received(cluster, vms)
        disks = sum(1 for lines in found.values() for line in lines if line.startswith("DISK_SIZE="))
        snapshots = sum(1 for lines in found.values() for line in lines if line.startswith("SNAPSHOT_SIZE="))
        if len(found) != vms or disks != vms * DISKS or snapshots != vms * DISKS * SNAPSHOTS:
            raise BenchError("tm monitor reported %d VMs, %d disks, %d snapshots; expected %d, %d, %d"
                             % (len(found), disks, snapshots, vms, vms * DISKS, vms * DISKS * SNAPSHOTS))
        result = MonitorScale(vms, vms * DISKS, vms * DISKS * SNAPSHOTS, setup, samples, len(found), disks,
                              snapshots, callcost.measure(cluster), profile(cluster, stdin))
        progress("monitor scale: tm monitor %.0f ms, %d StorPool calls" % (result.median_ms, result.storpool_calls))
        return result
    finally:
        cluster.close()


def _received(cluster: Cluster, vms: int, wait: float = 5.0) -> Dict[int, List[str]]:
    """Wait (briefly) until the datagrams of all ``vms`` arrived; UDP on 127.0.0.1 does not lose them."""
    deadline = time.monotonic() + wait
    payloads: List[bytes] = []
    found: Dict[int, List[str]] = {}
    while time.monotonic() < deadline:
        payloads += cluster.monitord.take()
        found = decode(payloads)
        if len(found) >= vms:
            break
        time.sleep(0.02)
    return found


def profile(cluster: Cluster, stdin: bytes, top: int = 10) -> List[Tuple[str, int, float]]:
    """The onesp functions that take longest in one more tm monitor run, under cProfile.

    The profiler slows everything down, so the numbers only compare with each other. The
    functions every call passes through (the driver, run, collect) are left out.
    """
    out = cluster.root / "monitor.prof"
    env = dict(cluster.stack.env, **dict(cluster.env, ONESP_SERVER_DIR=""))  # in this process, where the profiler is
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), str(EXECUTABLE_DIRS["tm"] / "monitor"),
                           "101"], input=stdin, env=env, capture_output=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise BenchError("tm monitor under cProfile failed: %s" % proc.stderr.decode("utf-8", "replace")[-300:])
    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    rows = []
    for (filename, _, function), (_, calls, _, cumulative, _) in stats.items():
        path = os.path.normpath(filename).replace(os.sep, "/")
        if "/onesp/" in path and not function.startswith("<"):
            rows.append(("onesp/%s %s" % (path.split("/onesp/", 1)[1], function), calls, cumulative * 1000))
    whole = max((row[2] for row in rows), default=0.0)
    shown: List[Tuple[str, int, float]] = []
    for row in sorted(rows, key=lambda row: -row[2]):
        if row[2] >= 0.9 * whole:
            continue
        if shown and shown[-1][1] == row[1] and row[2] >= 0.98 * shown[-1][2]:
            continue  # a wrapper and what it wraps: the outer one stands for both
        shown.append(row)
    return shown[:top]

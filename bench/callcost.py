"""The stand-ins' own time for the whole-cluster calls the monitors make, asked directly.

The monitors are the only benchmarked actions whose calls return one entry per volume or
snapshot; timing those calls straight from this process (no action around them) shows
how much of a monitor's growth with the cluster is the answer itself (emulator work, JSON
size) and how much is the action's processing of it.
"""

from __future__ import annotations

import statistics
import time
import xmlrpc.client
from typing import Callable, Dict

from bench.cluster import Cluster

STORPOOL_CALLS = ("VolumeTemplatesStatus", "VolumesSpace", "SnapshotsSpace")
VM_POOL = "one.vmpool.infoextended"


def _median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(cluster: Cluster, repeat: int = 3, vm_pool: bool = True) -> Dict[str, float]:
    """{call name: median ms} for the StorPool monitoring calls and (``vm_pool``) the VM pool read."""
    ctl = cluster.stack.ctl
    out: Dict[str, float] = {}
    for call in STORPOOL_CALLS:
        out[call] = _median_ms(lambda call=call: ctl.api("GET", call), repeat)
    if not vm_pool:
        return out
    oned = cluster.stack.oned
    proxy = xmlrpc.client.ServerProxy(oned.endpoint)
    out[VM_POOL] = _median_ms(lambda: proxy.one.vmpool.infoextended(oned.auth, -2, -1, -1, -1), repeat)
    return out

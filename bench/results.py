"""Everything one benchmark run measured, handed from bench/main.py to the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from bench.image_import import ImportResult
from bench.monitoring import MonitorScale
from bench.parallel import ParallelResult
from bench.scenario import Scenario
from bench.ssh_reuse import SshReuse
from bench.startup import Startup
from bench.timing import Summary


@dataclass(frozen=True)
class ClusterSpec:
    label: str
    volumes: int
    latency_ms: float = 0.0
    server: bool = False  # actions run through a resident ``onesp server``


@dataclass(frozen=True)
class Results:
    command: str
    quick: bool
    runs: int
    started: str  # date and time, UTC
    elapsed: float  # seconds the whole run took
    machine: Dict[str, str]
    load_before: str
    load_after: str
    scenarios: List[Scenario]
    clusters: List[ClusterSpec]  # base, ..., largest, latency (same order as tables)
    tables: List[Dict[str, Summary]]
    call_costs: List[Dict[str, float]]  # per cluster: whole-cluster call -> ms
    monitor: Optional[MonitorScale]
    startup: Optional[Startup]
    image: Optional[ImportResult]
    parallel: Optional[ParallelResult]
    parallel_server: Optional[ParallelResult] = None
    load_peak: float = 0.0  # 1-minute load average sampled during the run: highest
    load_mean: float = 0.0  # and mean
    ssh: Optional[SshReuse] = None  # host commands over a real sshd, with and without the shared connection

    def cluster_index(self, volumes: int, latency_ms: float = 0.0, server: bool = False) -> int:
        for n, spec in enumerate(self.clusters):
            if spec.volumes == volumes and spec.latency_ms == latency_ms and spec.server == server:
                return n
        raise KeyError("no cluster of %d volumes with %g ms latency (server %s)" % (volumes, latency_ms, server))

    def server_index(self, volumes: int) -> Optional[int]:
        """The server-mode cluster of ``volumes`` volumes, if the run had one."""
        try:
            return self.cluster_index(volumes, server=True)
        except KeyError:
            return None

    @property
    def base(self) -> int:
        return self.cluster_index(min(c.volumes for c in self.clusters if not c.latency_ms and not c.server))

    @property
    def largest(self) -> int:
        return self.cluster_index(max(c.volumes for c in self.clusters if not c.latency_ms and not c.server))

    @property
    def scale_columns(self) -> List[int]:
        return sorted((n for n, c in enumerate(self.clusters) if not c.latency_ms and not c.server),
                      key=lambda n: self.clusters[n].volumes)

    @property
    def latency(self) -> Optional[int]:
        found = [n for n, c in enumerate(self.clusters) if c.latency_ms]
        return found[0] if found else None

"""A description of the machine and checkout the benchmark ran on, for the report's header."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]


def _first(path: str, key: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, sep, value = line.partition(":" if ":" in line else "=")
                if sep and name.strip() == key:
                    return value.strip().strip('"')
    except OSError:
        pass
    return "unknown"


def _command(argv: List[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=str(REPO), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (proc.stdout.strip().splitlines() or ["unknown"])[0] if proc.returncode == 0 else "unknown"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return "%.2f, %.2f, %.2f" % (one, five, fifteen)


def describe() -> Dict[str, str]:
    mem_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    memory = "%.1f GiB" % (int(mem_kib) / 1024 / 1024) if mem_kib.isdigit() else "unknown"
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "CPU model": _first("/proc/cpuinfo", "model name"),
        "memory": memory,
        "OS": "%s, Linux %s (%s)" % (_first("/etc/os-release", "PRETTY_NAME"), platform.release(), platform.machine()),
        "Python": "%s (%s)" % (platform.python_version(), platform.python_implementation()),
        "qemu-img": _command(["qemu-img", "--version"]),
        "checkout": _command(["git", "describe", "--always", "--dirty"]),
        "interpreter": "the checkout's virtualenv" if sys.prefix.startswith(str(REPO)) else "system Python",
    }


class LoadSampler:
    """The 1-minute load average read every ``every`` seconds in a thread while the run lasts.

    The machine is shared: the report gives the peak and mean of these samples so a reader
    can tell how much of the measured wall times was other users' work.
    """

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: List[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="load-sampler", daemon=True)

    def _sample(self) -> None:
        while True:
            try:
                self.samples.append(os.getloadavg()[0])
            except OSError:
                return
            if self._stop.wait(self.every):
                return

    def start(self) -> "LoadSampler":
        self._thread.start()
        return self

    def stop(self) -> Tuple[float, float]:
        """(peak, mean) of the 1-minute load average during the run; (0, 0) where there is none."""
        self._stop.set()
        self._thread.join()
        if not self.samples:
            return 0.0, 0.0
        return max(self.samples), sum(self.samples) / len(self.samples)

"""A description of the machine and checkout the benchmark ran on, for the report's header."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Dict

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


def _command(argv: list) -> str:
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

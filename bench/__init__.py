"""onesp benchmarks: ``bench/run`` writes docs/benchmarks.md (see bench/main.py)."""

from __future__ import annotations

"""``python -m onesp.sim.storpool serve ...`` (same as ``onesp sim storpool serve``)."""

from __future__ import annotations

from .command import storpool

if __name__ == "__main__":
    storpool(prog_name="python -m onesp.sim.storpool")

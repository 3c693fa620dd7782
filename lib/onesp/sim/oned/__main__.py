"""``python -m onesp.sim.oned serve ...``: the stand-in without the onesp CLI."""

from __future__ import annotations

from .command import oned

if __name__ == "__main__":
    oned(prog_name="python -m onesp.sim.oned")

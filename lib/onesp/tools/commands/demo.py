"""``onesp demo``: the product's main job on its embedded default (see onesp.tools.demo)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Work here instead of a fresh temporary directory.")
@click.option("--keep", is_flag=True, help="Leave the stand-ins running afterwards and print their environment.")
def demo(directory: Optional[str], keep: bool) -> None:
    """Run one VM's whole life on the embedded StorPool emulator and oned stand-in, exactly as
    oned would drive the drivers, checking bytes, attachments and names after every step.

    Example: onesp demo --keep
    """
    from ..demo import run_demo

    sys.exit(run_demo(Path(directory) if directory is not None else None, keep, sys.stdout))

"""``onesp doctor``: check that configuration, StorPool, oned, oned.conf and the installed
drivers fit together, before the first VM finds out (checks in ``doctor_checks``)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import List, Mapping

import click

from ..runtime.configfiles import one_location
from .doctor_checks import FAIL, Check, Places, run
from .install import manifest


def default_places(env: Mapping[str, str]) -> Places:
    """OpenNebula's locations (``ONE_LOCATION`` aware). When this copy of onesp runs from an
    installed remotes tree, that tree is the one to check."""
    base = one_location(env)
    etc = os.path.join(base, "etc") if base else "/etc/one"
    remotes = os.path.join(base, "var", "remotes") if base else "/var/lib/one/remotes"
    here = Path(__file__).resolve().parents[3]
    if (here / manifest.NAME).is_file():
        remotes = str(here)
    return Places(os.path.join(etc, "oned.conf"), os.path.join(etc, "vmm_exec", "vmm_execrc"), remotes)


def table(checks: List[Check]) -> str:
    """Status, check and detail in columns; the fix indented under each failed or warned row."""
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append("%-4s  %-*s  %s" % (check.status, width, check.name, check.detail))
        if check.fix:
            lines.append("%-4s  %-*s  fix: %s" % ("", width, "", check.fix))
    failed = sum(1 for check in checks if check.status == FAIL)
    lines.append("%d checks, %s" % (len(checks), "%d failed" % failed if failed else "all passed"))
    return "\n".join(lines)


_PLACES = default_places(os.environ)


@click.command()
@click.option("--oned-conf", default=_PLACES.oned_conf, show_default=True, help="oned.conf to check.")
@click.option("--vmm-execrc", default=_PLACES.vmm_execrc, show_default=True, help="vmm_execrc to check.")
@click.option("--remotes", default=_PLACES.remotes, show_default=True, help="OpenNebula's remotes directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(oned_conf: str, vmm_execrc: str, remotes: str, as_json: bool) -> None:
    """Check the setup in order: configuration, StorPool API and token, oned, the StorPool
    template of every storpool datastore, the client id of every host of their clusters, the
    registration in oned.conf and vmm_execrc, and the installed drivers.

    Exit status 1 when a check failed; every failed line says how to fix it.

    Example: onesp doctor --oned-conf /etc/one/oned.conf --json
    """
    checks = run(Places(oned_conf, vmm_execrc, remotes))
    if as_json:
        click.echo(json.dumps({"ok": all(c.status != FAIL for c in checks), "checks": [asdict(c) for c in checks]},
                              indent=1))
    else:
        click.echo(table(checks))
    raise SystemExit(1 if any(c.status == FAIL for c in checks) else 0)

"""``onesp report``: StorPool space per VM and per datastore, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import List, Optional

import click

from ...runtime import config
from ...runtime.actioncontext import Context
from ...runtime.errors import OnespError
from ..report import SIZES, Report, Row, collect

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human(size: int) -> str:
    """``16.0 MiB``: bytes in the largest binary unit that keeps the number at least 1."""
    value, unit = float(size), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return "%d B" % size if unit == 0 else "%.1f %s" % (value, _UNITS[unit])


def _table(title: str, rows: List[Row]) -> List[str]:
    header = (title, "NAME", "VOLUMES", "PROVISIONED", "STORED", "SNAPSHOTS")
    body = [(str(r.id), r.name, str(r.volumes)) + tuple(human(getattr(r, s)) for s in SIZES) for r in rows]
    total = ("total", "", str(sum(r.volumes for r in rows))) + tuple(
        human(sum(getattr(r, s) for r in rows)) for s in SIZES)
    widths = [max(len(line[i]) for line in [header, total] + body) for i in range(len(header))]
    lines = []
    for line in [header] + body + [total]:
        cells = [line[i].ljust(widths[i]) if i < 2 else line[i].rjust(widths[i]) for i in range(len(line))]
        lines.append("  ".join(cells).rstrip())
    return lines


def as_table(report: Report) -> str:
    return "\n".join(_table("VM", report.vms) + [""] + _table("DATASTORE", report.datastores))


def as_csv(report: Report) -> str:
    """One row per VM and per datastore; sizes in bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "id", "name", "volumes"] + ["%s_bytes" % s for s in SIZES])
    for row in report.vms + report.datastores:
        writer.writerow([row.kind, row.id, row.name, row.volumes] + [getattr(row, s) for s in SIZES])
    return out.getvalue().rstrip("\n")


def as_json(report: Report) -> str:
    return json.dumps({"vms": [asdict(r) for r in report.vms], "datastores": [asdict(r) for r in report.datastores],
                       "volumes": [asdict(v) for v in report.volumes]}, indent=2)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table (sizes in KiB..TiB), csv or json (sizes in bytes; json also lists each volume).")
@click.option("--datastore", "ds_id", type=click.IntRange(0, 2**31 - 1),
              help="Only the volumes made with this datastore's template.")
def report(fmt: str, ds_id: Optional[int]) -> None:
    """StorPool space of this instance's volumes per VM and per datastore: provisioned (volume
    sizes), stored (data written in the volumes themselves) and snapshots (data held in their
    disk and VM snapshots); not multiplied by replication.

    Five API calls whatever the number of VMs: three oned pools, VolumesSpace and
    SnapshotsSpace (once per StorPool endpoint).

    Example: onesp report --format csv > usage.csv
    """
    try:
        found = collect(Context("cli", "report", [], config.load()), ds_id)
    except OnespError as exc:
        raise click.ClickException("%s: %s" % (exc.kind, exc)) from None
    click.echo({"table": as_table, "csv": as_csv, "json": as_json}[fmt](found))

"""``onesp audit``: StorPool objects oned does not account for, and the reverse."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Dict, List

import click

from ...one import OneClient
from ...runtime import config, snapshotting, volumes
from ...runtime import storpoolapi as storpool
from ...runtime.actioncontext import Context
from ...runtime.errors import OnespError
from ..audit import Finding, as_dicts
from ..audit import audit as compare


def collect(cfg: config.Config, sp: storpool.StorPool, one: OneClient) -> List[Finding]:
    datastores = {ds.id: ds for ds in one.datastore_pool()}
    hosts: Dict[str, int] = {}
    for host in one.host_pool():
        client = host.sp_ourid
        if client is not None:
            hosts[host.name] = int(client)
    return compare(cfg, sp.volumes(), sp.snapshots(), sp.attachments(), one.vm_pool(), one.image_pool(), datastores,
                   hosts, int(time.time()))


def remove_orphans(cfg: config.Config, findings: List[Finding]) -> int:
    """Remove exactly the orphans listed (volumes through DELAY_DELETE) that are not too new;
    returns how many."""
    ctx = Context("audit", "delete-orphans", [], cfg)
    removed = 0
    for finding in findings:
        if finding.kind != "orphan" or finding.too_new:
            continue
        if finding.snapshot:
            removed += snapshotting.delete_snapshots(ctx, [finding.object])
        elif volumes.delete(ctx, finding.object):
            removed += 1
    return removed


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON list.")
@click.option("--delete-orphans", is_flag=True, help="Remove the orphans found (volumes through DELAY_DELETE).")
@click.option("--yes", is_flag=True, help="Confirm --delete-orphans.")
def audit(as_json: bool, delete_orphans: bool, yes: bool) -> None:
    """Report StorPool volumes and snapshots of this instance (ONE_PX) that no image, VM disk,
    snapshot or delayed delete accounts for, missing volumes, stale attachments and wrong tags.

    Read-only unless --delete-orphans --yes, which removes only the orphans it lists, except
    those created less than AUDIT_ORPHAN_GRACE ago (listed as too new).
    Exit status 0 when nothing was found, 1 when something was.

    Example: onesp audit --json
    """
    if delete_orphans and not yes:
        raise click.UsageError("--delete-orphans removes data: add --yes to confirm")
    try:
        cfg = config.load()
        findings = collect(cfg, storpool.from_config(cfg), OneClient.from_environment(cfg.oned_environment(os.environ)))
        removed = remove_orphans(cfg, findings) if delete_orphans else 0
    except OnespError as exc:
        raise click.ClickException("%s: %s" % (exc.kind, exc)) from None
    if as_json:
        click.echo(json.dumps({"findings": as_dicts(findings), "removed": removed}, indent=2))
    else:
        for f in findings:
            click.echo("%-8s %-48s %s" % (f.kind, f.object, f.detail))
        counts = {kind: sum(1 for f in findings if f.kind == kind) for kind in ("orphan", "missing", "stale", "tags")}
        click.echo("%d orphans, %d missing, %d stale attachments, %d tag mismatches%s" % (
            counts["orphan"], counts["missing"], counts["stale"], counts["tags"],
            "; removed %d orphans" % removed if delete_orphans else ""))
        young = sum(1 for f in findings if f.too_new)
        if young:
            click.echo("%d orphans are too new to remove: created less than AUDIT_ORPHAN_GRACE (%ss) ago"
                       % (young, cfg.AUDIT_ORPHAN_GRACE))
    sys.exit(1 if findings and not delete_orphans else 0)

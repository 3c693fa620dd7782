"""``onesp retag``: set the qc and vc-policy tags of this instance's volumes from oned's current attributes."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click

from ...runtime import config, logs
from ...runtime.actioncontext import Context
from ...runtime.errors import OnespError
from ...runtime.retagger import Outcome, Retagger


def _report(outcome: Outcome, dry_run: bool) -> None:
    verb = "would set" if dry_run else "set"
    for c in outcome.changes:
        click.echo("%-9s %-40s %-20s %s: %s -> %s" % (verb, c.volume, c.owner, c.tag, c.old or "(none)",
                                                      c.new or "(none)"))
    for line in outcome.skipped:
        click.echo("skipped   %s" % line)
    for line in outcome.failed:
        click.echo("failed    %s" % line)
    changed = len({c.volume for c in outcome.changes})
    click.echo("%d volumes checked, %d tags %s on %d volumes, %d absent, %d skipped, %d failed%s" % (
        outcome.checked, len(outcome.changes), "to change" if dry_run else "changed", changed, len(outcome.absent),
        len(outcome.skipped), len(outcome.failed), " (dry run: nothing changed)" if dry_run else ""))


@click.command()
@click.option("--vm", "vm_id", type=click.IntRange(0, 2**31 - 1), help="Only the volumes of this VM.")
@click.option("--datastore", "ds_id", type=click.IntRange(0, 2**31 - 1),
              help="VMs on this system datastore or with a disk from it, and the free images in it.")
@click.option("--all", "everything", is_flag=True, help="Every VM and every free image.")
@click.option("--dry-run", is_flag=True, help="List each change, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def retag(vm_id: Optional[int], ds_id: Optional[int], everything: bool, dry_run: bool, as_json: bool) -> None:
    """Give this instance's volumes the qc (QoS class) and vc-policy (VolumeCare) tags that the
    current VC_POLICY and SP_QOSCLASS of their VMs, images and datastores call for, by the
    precedence the drivers use. Only tags change; snapshots keep theirs; volumes of other
    instances (nloc) are skipped.

    Exactly one of --vm, --datastore, --all. Exit status 1 when a VM's or image's tags could not
    be changed (its other changes are undone).

    Example: onesp retag --all --dry-run
    """
    if sum((vm_id is not None, ds_id is not None, everything)) != 1:
        raise click.UsageError("give exactly one of --vm ID, --datastore ID, --all")
    try:
        cfg = config.load()
        logs.setup("onesp_retag", cfg, False)
        retagger = Retagger(Context("cli", "retag", [], cfg), dry_run=dry_run)
        outcome = retagger.vm(vm_id) if vm_id is not None else retagger.pools(ds_id)
    except OnespError as exc:
        raise click.ClickException("%s: %s" % (exc.kind, exc)) from None
    if as_json:
        click.echo(json.dumps(dict(outcome.as_dict(), dry_run=dry_run), indent=2))
    else:
        _report(outcome, dry_run)
    sys.exit(1 if outcome.failed else 0)

"""``onesp fence HOST``: storage-side fencing of a failed hypervisor (see ``onesp.tools.fence``)."""

from __future__ import annotations

import json
import sys

import click

from ...runtime import config, logs
from ...runtime.actioncontext import Context
from ...runtime.errors import OnespError
from ...runtime.hostexec import Host, check_host, runner_from_config
from ..fence import PROBE_TIMEOUT, as_dict, host_from_document, resolve_client
from ..fence import fence as run_fence


@click.command()
@click.argument("host")
@click.option("--force", is_flag=True, help="Fence the host even though it still answers over ssh.")
@click.option("--dry-run", is_flag=True, help="List what would be detached; change nothing.")
@click.option("--probe-timeout", type=click.FloatRange(0.5, 300), default=PROBE_TIMEOUT, show_default=True,
              help="Seconds the ssh liveness probe may take.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def fence(host: str, force: bool, dry_run: bool, probe_timeout: float, as_json: bool) -> None:
    """Take a failed host's StorPool client off every volume and snapshot it holds (forced detach).

    HOST is the OpenNebula host name, or - to read the base64 HOST document from stdin, as
    OpenNebula's ft/fence_host.sh receives it from the host-error hook. A host that still
    answers over ssh is refused unless --force. Safe to repeat: a fenced host has nothing
    attached. Each detach is logged (syslog, LOG_FILE).

    Example: onesp fence node7 --dry-run
    """
    try:
        cfg = config.load()
        logs.setup("onesp_fence", cfg)
        document_id = None
        if host == "-":
            host, document_id = host_from_document(sys.stdin.buffer.read())
        check_host(host)
        ctx = Context("onesp", "fence", [host], cfg)
        client = resolve_client(host, document_id, ctx.client_id)
        node = Host(host, runner_from_config(cfg), probe_timeout)
        outcome = run_fence(host, client, ctx.sp, lambda: node.run(["true"], what="probe"), force=force,
                            dry_run=dry_run)
    except OnespError as exc:
        if logs.LOGGER.handlers:  # set up: never Python's last-resort handler, a second line on stderr
            logs.LOGGER.error("fence %s: %s: %s", host, exc.kind, exc)
        raise click.ClickException(logs.printable(logs.SECRETS.mask("%s: %s" % (exc.kind, exc)))) from None
    if as_json:
        click.echo(json.dumps(as_dict(outcome), indent=1))
        return
    for attachment in outcome.detached if not dry_run else outcome.found:
        click.echo("%s %-8s %-48s %s" % ("would detach" if dry_run else "detached", attachment.kind, attachment.name,
                                         attachment.rights))
    click.echo(outcome.summary())

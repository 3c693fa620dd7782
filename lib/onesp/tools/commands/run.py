"""``onesp run``: run any action by hand, with the same exit contract as under oned."""

from __future__ import annotations

import base64
import os
import sys
from typing import Optional, Tuple

import click

from ...runtime.driver import run_action
from ...runtime.logs import printable


def progress_bar(label: str, moved: int, total: Optional[int], finished: bool) -> None:
    """Draw a long transfer's progress on the terminal (``progress.DISPLAY``), one line redrawn."""
    mib = moved / 1048576.0
    label = printable(label)  # a name from oned or a URL: no escape sequence reaches the terminal
    if total:
        share = min(1.0, moved / float(total))
        bar = "#" * int(share * 30)
        text = "%s [%-30s] %3d%% %.1f/%.1f MiB" % (label[:40], bar, share * 100, mib, total / 1048576.0)
    else:
        text = "%s %.1f MiB" % (label[:40], mib)
    sys.stderr.write("\r\033[K" + text + ("\n" if finished else ""))
    sys.stderr.flush()


KINDS = {"ds": "datastore", "tm": "transfer manager", "vmm": "virtual machine manager helper"}


def module_name(kind: str, action: str) -> str:
    """``snapshot_create-storpool`` and ``clone.ssh`` name the modules snapshot_create and clone."""
    name = action.split(".", 1)[0] if kind == "tm" else action
    for suffix in ("-storpool", ".storpool"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if not name.replace("_", "a").isalnum():
        raise click.BadParameter("unknown action %r" % action)
    return name


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("action")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--xml", "xml_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="XML document for the action's stdin (driver action, VM); sent base64-encoded as oned does.")
@click.option("--stdin-raw", "raw_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Bytes to pass on stdin unchanged.")
@click.option("-v", "--verbose", is_flag=True, help="Print every StorPool call and host command as it happens.")
def run(kind: str, action: str, args: Tuple[str, ...], xml_file: Optional[str], raw_file: Optional[str],
        verbose: bool) -> None:
    """Run the ACTION of KIND (ds, tm, vmm) with ARGS, exactly as oned would.

    Examples:

      onesp run ds cp 12 --xml cp-action.xml

      onesp run -v tm clone fe:one-ds-1/one-img-5 node1:/var/lib/one//datastores/0/7/disk.0 7 1
    """
    if xml_file and raw_file:
        raise click.UsageError("give --xml or --stdin-raw, not both")
    payload = b""
    if xml_file:
        raw = sys.stdin.buffer.read() if xml_file == "-" else open(xml_file, "rb").read()
        payload = base64.b64encode(raw.strip())
    elif raw_file:
        payload = sys.stdin.buffer.read() if raw_file == "-" else open(raw_file, "rb").read()

    def observer(method: str, call: str, arg: Optional[str]) -> None:
        click.echo("storpool: %s %s%s" % (method, call, " " + arg if arg else ""), err=True)

    if verbose:
        os.environ["ONESP_VERBOSE"] = "1"
    elif sys.stderr.isatty():
        from ...runtime import progress

        progress.DISPLAY = progress_bar
    code = run_action(kind, module_name(kind, action), list(args), stdin=lambda: payload,
                      observer=observer if verbose else None)
    sys.exit(code)

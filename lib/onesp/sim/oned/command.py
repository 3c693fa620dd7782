"""``onesp sim oned``: run the oned stand-in in the foreground."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Optional, Tuple

import click

from .rpcserver import OnedSim


def _address(value: str) -> Tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:2633 (port 0 picks a free one)")
    return host.strip("[]"), int(port)


@click.group("oned")
def oned() -> None:
    """oned stand-in: answers the XML-RPC calls drivers make from a folder of XML documents."""


@oned.command("serve")
@click.option("--listen", default="127.0.0.1:2633", show_default=True, help="HOST:PORT to listen on.")
@click.option("--state", "state_dir", required=True, type=click.Path(file_okay=False),
              help="Folder with vm/, image/, datastore/, host/ holding <id>.xml documents.")
@click.option("--auth", default="oneadmin:secret", show_default=True,
              help="The only session string accepted (user:password).")
@click.option("--version", "one_version", default="7.0.2", show_default=True,
              help="The OpenNebula version it stands in for: what one.system.version answers "
              "and the shape of the pool answers (6.10 to 7.4).")
def serve(listen: str, state_dir: str, auth: str, one_version: str) -> None:
    """Serve until SIGTERM or SIGINT.

    Prints ONE_XMLRPC=... and ONE_AUTH=... (a session file written in the
    state folder), ready for an action's environment.

    Example: onesp sim oned serve --listen 127.0.0.1:2633 --state /tmp/oned --auth oneadmin:secret
    """
    if ":" not in auth:
        raise click.BadParameter("expected user:password", param_hint="--auth")
    stop = threading.Event()

    def request_stop(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    sim = OnedSim(state_dir, auth=auth, listen=_address(listen), version=one_version)
    try:
        sim.start()
    except OSError as exc:
        raise click.ClickException("cannot listen on %s: %s" % (listen, exc.strerror or exc)) from None
    try:
        for key, value in sim.env.items():
            click.echo("%s=%s" % (key, value))
        click.echo("oned stand-in listening on %s" % sim.endpoint, err=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()

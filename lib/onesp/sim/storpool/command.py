"""``onesp sim storpool``: the emulator's command line (a click group the main CLI mounts).

    onesp sim storpool serve --listen 127.0.0.1:8181 --data ./sp --dev-dir ./dev/storpool \\
        --clients 1-16 --print-env

runs in the foreground until SIGTERM or SIGINT. ``--print-env`` prints the three
variables clients need (``SP_API_HTTP_HOST``, ``SP_API_HTTP_PORT``, ``SP_AUTH_TOKEN``) once
the port is bound; ``--env-file`` writes them to a file (mode 0600, written atomically,
so a parent process may wait for it to appear). Without ``--token`` (or ``SP_AUTH_TOKEN``
in the environment) a random token is made.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import List, Mapping, Optional, Tuple

import click

from .sim import StorPoolSim


def parse_clients(text: str) -> List[int]:
    """``"1-16,20,22-23"`` -> the list of client ids."""
    out: List[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise click.BadParameter("expected ids and ranges like 1-16,20: %r" % text)
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= 4095:
            raise click.BadParameter("client ids are 1..4095: %r" % part)
        out.extend(range(first, last + 1))
    return sorted(set(out))


def parse_listen(text: str) -> Tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise click.BadParameter("expected HOST:PORT, got %r" % text)
    return host, int(port)


def env_text(env: Mapping[str, str]) -> str:
    return "".join("%s=%s\n" % (k, env[k]) for k in ("SP_API_HTTP_HOST", "SP_API_HTTP_PORT", "SP_AUTH_TOKEN"))


def write_env_file(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


@click.group(name="storpool")
def storpool() -> None:
    """StorPool API emulator (persistent state, real bytes, test hooks under /_sim/)."""


@storpool.command()
@click.option("--listen", default="127.0.0.1:0", show_default=True, help="HOST:PORT to serve on (0 = any free port).",
              callback=lambda ctx, param, value: parse_listen(value))
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="State directory (SQLite database and backing files); kept across restarts.")
@click.option("--dev-dir", required=True, type=click.Path(file_okay=False),
              help="Where attached volumes appear (stands in for /dev/storpool).")
@click.option("--byid-dir", type=click.Path(file_okay=False), default=None,
              help="Where attached volumes appear by global id [default: <dev-dir>-byid].")
@click.option("--token", envvar="SP_AUTH_TOKEN", default=None, help="API token [default: random].")
@click.option("--clients", default="1-16", show_default=True, help="Registered client ids, e.g. 1-16,20.",
              callback=lambda ctx, param, value: parse_clients(value))
@click.option("--location", "locations", multiple=True,
              help="A remote location NAME or NAME=STORE_DIR (share STORE_DIR with a second emulator).")
@click.option("--cluster-id", default="emu.a", show_default=True, help="<locationId>.<subClusterId> of globalIds.")
@click.option("--print-env", is_flag=True, help="Print SP_API_HTTP_HOST/PORT and SP_AUTH_TOKEN once listening.")
@click.option("--env-file", type=click.Path(dir_okay=False), default=None,
              help="Write the same variables to this file (mode 0600) once listening.")
@click.option("--verbose", is_flag=True, help="Log each request (method, path, status) to stderr.")
def serve(listen: Tuple[str, int], data_dir: str, dev_dir: str, byid_dir: Optional[str], token: Optional[str],
          clients: List[int], locations: Tuple[str, ...], cluster_id: str, print_env: bool,
          env_file: Optional[str], verbose: bool) -> None:
    """Serve the StorPool API in the foreground until SIGTERM/SIGINT."""
    where = {}
    for spec in locations:
        name, _, store = spec.partition("=")
        where[name] = Path(store) if store else None
    sim = StorPoolSim(Path(data_dir), Path(dev_dir), token=token, clients=clients, listen=listen,
                      byid_dir=byid_dir, cluster_id=cluster_id, locations=where, verbose=verbose)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    sim.start()
    try:
        text = env_text(sim.env)
        if env_file is not None:
            write_env_file(Path(env_file), text)
        if print_env:
            sys.stdout.write(text)
            sys.stdout.flush()
        sys.stderr.write("storpool-sim: serving on %s:%d (data %s)\n" % (sim.host, sim.port, data_dir))
        sys.stderr.flush()
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()

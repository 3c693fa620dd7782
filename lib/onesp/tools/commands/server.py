"""``onesp server``: the resident action server in the foreground (the systemd unit runs it)."""

from __future__ import annotations

import sys

import click

from ...runtime import client


@click.command()
@click.option("--dir", "directory", default=lambda: client.server_dir() or client.DEFAULT_DIR,
              show_default="$ONESP_SERVER_DIR or %s" % client.DEFAULT_DIR,
              help="Directory of the socket; made 0700, refused if another user owns it or can write it.")
def server(directory: str) -> None:
    """Run actions for the executables oned starts, from one process with every module loaded.

    The executables hand their action over when a server answers in ONESP_SERVER_DIR and
    runs the same files; otherwise they run it themselves. Stops on SIGTERM or SIGINT;
    running actions go on to their end.

    Example: ONESP_SERVER_DIR=/run/onesp onesp server
    """
    from ...runtime import actionserver as resident

    def say(line: str) -> None:
        click.echo(line, err=True)

    sys.exit(resident.main(directory, say))

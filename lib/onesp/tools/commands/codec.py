"""``onesp decode`` and ``onesp encode``: oned's base64 driver actions to readable XML and back."""

from __future__ import annotations

import base64
import sys
from typing import Optional

import click
from lxml import etree

from ...one import decode_base64, parse_xml
from ...runtime.errors import OnespError


def _read(argument: Optional[str]) -> bytes:
    if argument in (None, "-"):
        return sys.stdin.buffer.read()
    return argument.encode("ascii", "replace")


@click.command()
@click.argument("data", required=False)
def decode(data: Optional[str]) -> None:
    """Print a base64 driver action (argument, or stdin) as indented XML.

    Example: onesp decode "$(cat action.b64)"   or   onesp decode < action.b64
    """
    try:
        root = parse_xml(decode_base64(_read(data), what="driver action"), what="driver action")
    except OnespError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(etree.tostring(root, pretty_print=True, encoding="unicode"), nl=False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True), default="-")
def encode(file: str) -> None:
    """Print an XML document (FILE, or stdin) as the one-line base64 oned sends.

    Example: onesp encode action.xml | onesp decode
    """
    raw = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()
    try:
        parse_xml(raw, what=file if file != "-" else "standard input")
    except OnespError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(base64.b64encode(raw.strip()).decode("ascii"))

"""Every ``onesp`` command starts and answers --help, and ``onesp --version`` works, with
whichever click is installed (scripts/test runs this under the oldest declared click too)."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator, List

import click
import pytest

from onesp import __version__
from onesp.tools.cli import main


def command_paths(command: click.Command, path: List[str]) -> Iterator[List[str]]:
    yield path
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from command_paths(command.get_command(ctx, name), path + [name])


PATHS = list(command_paths(main, []))


def onesp(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onesp", *argv], capture_output=True, text=True, timeout=60)


def test_every_command_is_listed():
    assert ["run"] in PATHS and ["sim", "storpool", "serve"] in PATHS and ["sim", "oned", "serve"] in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "onesp")
def test_help_of_every_command(path):
    done = onesp(*path, "--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(" ".join(["Usage: onesp", *path, ""]))


def test_version():
    done = onesp("--version")
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "onesp, version %s\n" % __version__)

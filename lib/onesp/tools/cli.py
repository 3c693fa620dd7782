"""``onesp``: the operator's command line (click).

Subcommands live in their own modules and are imported only when used, so
``onesp --help`` stays fast and a broken optional part cannot break the rest.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional, Tuple

import click

from .. import __version__

#: command name -> (module, attribute); the attribute is a click command or group.
COMMANDS: Dict[str, Tuple[str, str]] = {
    "run": ("onesp.tools.commands.run", "run"),
    "decode": ("onesp.tools.commands.codec", "decode"),
    "encode": ("onesp.tools.commands.codec", "encode"),
    "audit": ("onesp.tools.commands.audit", "audit"),
    "retag": ("onesp.tools.commands.tags", "retag"),
    "report": ("onesp.tools.commands.report", "report"),
    "demo": ("onesp.tools.commands.demo", "demo"),
    "doctor": ("onesp.tools.doctor", "doctor"),
    "fence": ("onesp.tools.commands.fence", "fence"),
    "server": ("onesp.tools.commands.server", "server"),
}
SIMULATORS: Dict[str, Tuple[str, str]] = {
    "storpool": ("onesp.sim.storpool.command", "storpool"),
    "oned": ("onesp.sim.oned.command", "oned"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: Optional[Dict[str, Tuple[str, str]]] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # click.Group's own parameters (Any in click's signature too)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name in self.lazy:
            module, attribute = self.lazy[name]
            command: click.Command = getattr(importlib.import_module(module), attribute)  # named in COMMANDS
            return command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="onesp")
def main() -> None:
    """OpenNebula storage drivers for StorPool: run, check and debug them.

    Example: onesp sim storpool serve --listen 127.0.0.1:8081 --data /tmp/sp --dev-dir /tmp/sp/dev --token t
    """


@main.group(cls=LazyGroup, lazy=SIMULATORS)
def sim() -> None:
    """Stand-ins for StorPool and oned, for tests, the demo and trying things by hand.

    Example: onesp sim oned serve --listen 127.0.0.1:2633 --state /tmp/oned --auth oneadmin:secret
    """

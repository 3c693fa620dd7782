"""``python -m onesp`` is the ``onesp`` command."""

from .tools.cli import main

main(prog_name="onesp")

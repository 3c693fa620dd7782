"""``python -m onesp`` is the ``onesp`` command."""

from .cli import main

main(prog_name="onesp")

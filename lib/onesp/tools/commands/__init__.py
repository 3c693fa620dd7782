"""Subcommands of the ``onesp`` CLI (imported only when used)."""

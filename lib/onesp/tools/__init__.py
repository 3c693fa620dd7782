"""Operator tools: the `onesp` command (cli, commands/), audit, doctor, demo, fence, report and
the installer (install/). They use the runtime; the runtime never imports them."""

"""The DS and TM executables: one file that is a shell script (how oned runs it) and a
Python script (how the compiled client's fallback and a front-end without it run it).

Both halves must name the same action, and each must be valid in its language; the
behaviour of both clients is tested in tests/integration/test_server.py."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path
from typing import List, Tuple

from onesp.sim.stack import EXECUTABLE_DIRS
from onesp.tools.install import compiled

#: Run on the hosts by the probes, not by oned on the front-end: plain Python scripts.
HOST_SIDE = {"monitor_ds"}


def executables() -> List[Path]:
    return [p for kind in ("ds", "tm") for p in sorted(EXECUTABLE_DIRS[kind].iterdir()) if p.name not in HOST_SIDE]


def python_action(path: Path) -> Tuple[str, str]:
    """The (kind, action) the Python half passes to ``main``."""
    tree = ast.parse(path.read_text(), str(path))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id == "main"]
    assert len(calls) == 1, path
    kind, action = (arg.value for arg in calls[0].args if isinstance(arg, ast.Constant))
    return str(kind), str(action)


def test_every_executable_is_the_same_action_in_both_languages():
    paths = executables()
    assert len(paths) > 30
    for path in paths:
        text = path.read_text()
        assert text.startswith("#!/bin/sh\n"), path
        kind, action = python_action(path)
        shell = text.split("\n'''\n", 1)[0]
        assert re.search(r'^client="\$\{0%%/\*\}/\.\./\.\./%s"$' % re.escape(compiled.RELATIVE), shell, re.M), path
        assert '[ -x "$client" ] && exec "$client" %s %s "$0" "$@"\n' % (kind, action) in shell, path
        assert shell.endswith('exec python3 "$0" "$@"'), path
        # the shell stops at its exec: only its half needs to be shell (the rest is never read by it)
        assert subprocess.run(["sh", "-n"], input=shell.encode(), capture_output=True).returncode == 0, path


def test_the_python_half_is_what_a_shell_never_reaches():
    """The shell half ends in ``exec``: a shell never reads the Python lines, and Python reads
    the shell lines as the module's docstring."""
    for path in executables():
        tree = ast.parse(path.read_text(), str(path))
        docstring = ast.get_docstring(tree, clean=False) or ""
        assert docstring.startswith(":'\n") and 'exec python3 "$0" "$@"' in docstring, path

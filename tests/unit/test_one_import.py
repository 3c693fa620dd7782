"""Importing onesp.one (every action's start-up path) stays lean."""

from __future__ import annotations

import subprocess
import sys


def test_importing_one_loads_no_server_cli_or_rpc_modules():
    code = "import sys, onesp.one; print('\\n'.join(sorted(sys.modules)))"
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    forbidden = ("click", "http.server", "sqlite3", "socketserver", "xmlrpc", "onesp.sim")
    assert [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)] == []

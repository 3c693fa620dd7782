"""The start-up path of an action imports none of the heavy or server-side modules."""

import subprocess
import sys

FORBIDDEN = ("click", "http.server", "sqlite3", "onesp.sim", "onesp.cli", "socketserver", "xmlrpc.server")


def test_action_entry_path_imports_nothing_heavy():
    code = (
        "import sys, onesp.driver, onesp.context, onesp.storpool, onesp.host, onesp.config, onesp.naming;"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    leaked = [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert leaked == []

"""The start-up path of an action imports none of the heavy or server-side modules."""

import subprocess
import sys

FORBIDDEN = ("click", "http.server", "sqlite3", "onesp.sim", "onesp.tools", "socketserver", "xmlrpc.server")


def test_action_entry_path_imports_nothing_heavy():
    code = (
        "import sys, onesp.runtime.driver, onesp.runtime.actioncontext, onesp.runtime.storpoolapi, onesp.runtime.hostexec,"
        " onesp.runtime.config, onesp.runtime.naming;"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    leaked = [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert leaked == []


def test_the_path_to_the_server_imports_almost_nothing():
    """What the executables import before handing the action over: the C halves of socket and
    signal and struct, nothing that imports enum, selectors or the library."""
    code = ("import os, sys; before = set(sys.modules); import onesp.runtime.client;"  # os, sys: what the shim imports
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    added = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2] / "lib")}
                           ).stdout.split()
    assert set(added) <= {"onesp", "onesp.runtime", "onesp.runtime.client", "struct", "_struct", "_socket", "_signal"}, added

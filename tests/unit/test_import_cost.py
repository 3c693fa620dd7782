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


#: What importing the oned client and the views every per-disk action reads must leave out: the
#: HTTP machinery (``http.client`` pulls in ``email`` and ``ssl``) comes with the first call to
#: oned, the views of images and hooks and the driver-action decoder with the first action
#: that reads one, and the StorPool answer types are annotations only.
NOT_YET = ("http.client", "email", "ssl", "xmlrpc", "onesp.one.action", "onesp.one.hookdef", "onesp.one.image",
           "onesp.runtime.storpoolanswers")


def test_the_oned_client_loads_neither_http_nor_views_before_they_are_used():
    code = ("import sys, onesp.runtime.driver, onesp.runtime.actioncontext, onesp.one.rpc, onesp.one.vm,"
            " onesp.one.datastore, onesp.one.host; from onesp.one import OneClient, Vm, Datastore, Host;"
            "print('\\n'.join(sorted(sys.modules)))")
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in modules if any(m == f or m.startswith(f + ".") for f in NOT_YET)] == []


def test_every_public_name_of_the_oned_package_resolves_to_its_module():
    """``onesp.one`` loads its names lazily: each one listed is there, and is its module's own."""
    code = ("import importlib, onesp.one as one;"
            "bad = [n for n in one.__all__ if getattr(one, n) is not"
            " getattr(importlib.import_module('onesp.one.' + one._HOME[n]), n)];"
            "print(sorted(one.__all__) == sorted(one._HOME), bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "[]"]


def test_the_path_to_the_server_imports_almost_nothing():
    """What the executables import before handing the action over: the C halves of socket and
    signal and struct, nothing that imports enum, selectors or the library."""
    code = ("import os, sys; before = set(sys.modules); import onesp.runtime.client;"  # os, sys: what the shim imports
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    added = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2] / "lib")}
                           ).stdout.split()
    assert set(added) <= {"onesp", "onesp.runtime", "onesp.runtime.client", "struct", "_struct", "_socket", "_signal"}, added

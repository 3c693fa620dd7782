"""Build the compiled client (``lib/onesp/runtime/client.c``) with the C compiler found here.

The DS and TM executables start it when it is there: it hands an action to the resident
onesp server in about a millisecond, where the Python client spends ten starting. Without
a compiler nothing is lost but that time: the executables run their Python client, which
speaks the same protocol. ``install.sh`` builds it into the remotes tree, ``scripts/setup``
next to its source (``python -m onesp.tools.install.compiled``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Callable, Mapping, Optional

from ...runtime import client

SOURCE = os.path.join(os.path.dirname(os.path.abspath(client.__file__)), "client.c")
#: Where the executables look for it, relative to the remotes tree (or a clone).
RELATIVE = "lib/onesp/runtime/" + client.COMPILED
FLAGS = ("-O2", "-Wall")


def compiler(env: Mapping[str, str]) -> Optional[str]:
    """``$CC`` if set, else ``cc`` or ``gcc`` on the PATH; None when there is none."""
    if env.get("CC"):
        return env["CC"]
    return shutil.which("cc") or shutil.which("gcc")


def build(target: str, say: Callable[[str], None], env: Mapping[str, str] = os.environ) -> bool:
    """Compile ``client.c`` to ``target`` (mode 0755, replaced atomically); whether it worked.
    A missing compiler or a failed build is said in one line and is no error."""
    cc = compiler(env)
    if cc is None:
        say("note: no C compiler (cc) found: the actions start through the Python client, about 10 ms slower"
            " each; install gcc and run this again to build %s" % client.COMPILED)
        return False
    handle, temporary = tempfile.mkstemp(prefix=".%s." % client.COMPILED, dir=os.path.dirname(target))
    os.close(handle)
    try:
        done = subprocess.run([cc, *FLAGS, "-o", temporary, SOURCE], stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            say("note: %s could not be built with %s (%s); the actions start through the Python client"
                % (client.COMPILED, cc, lines[-1] if lines else "exit status %d" % done.returncode))
            return False
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
        return True
    except OSError as exc:
        say("note: %s could not be built with %s (%s); the actions start through the Python client"
            % (client.COMPILED, cc, exc.strerror or exc))
        return False
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def stale(target: str) -> bool:
    """Whether ``target`` is missing or older than its source (``scripts/setup`` rebuilds then)."""
    try:
        return os.stat(target).st_mtime_ns < os.stat(SOURCE).st_mtime_ns
    except FileNotFoundError:
        return True


if __name__ == "__main__":  # scripts/setup: build it next to its source when missing or older
    built = os.path.join(os.path.dirname(SOURCE), client.COMPILED)
    if stale(built):
        build(built, lambda line: print(line, file=sys.stderr))

"""An ``ssh`` for the host runner that logs host commands and can hold one of them.

Actions run with ``HOST_EXEC=ssh`` and ``SSH=<this script>``: each command script they send
to a host is logged under ``<log dir>`` and then run on this machine exactly as the local
runner would (in the host's private directory view when ``stack.private_hosts()`` is on).

A command is known by its signature, the host and the first two words of its script
(``node2 mkdir -p``), and the occurrence of that signature in the run (0, 1, ...): two
commands that run at the same time (the two ends of a copy between hosts) have different
signatures, so the names do not depend on which of them starts first, and random parts
of a script (temporary names) do not enter them. With ``ONESP_TEST_HOLD=<name>:before`` the
command sleeps before it runs, with ``<name>:after`` after it ran; while it sleeps its pid
is in ``<log dir>/holding``. A test then stops the action at that exact host step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List, Optional

from onesp.sim.stack import Stack

SCRIPT = r'''
import os, subprocess, sys, time
args = sys.argv[1:]
host, text = args[args.index("--") + 1], args[args.index("--") + 2]
log = os.environ["ONESP_TEST_HOST_LOG"]
signature = " ".join([host] + text.split()[:2])

def claim(prefix):
    n = 0
    while True:
        try:
            fd = os.open(os.path.join(log, prefix + "%03d" % n), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            return fd, n
        except FileExistsError:
            n += 1

fd, occurrence = claim("cmd-%s-" % signature.replace("/", "_").replace(" ", "_"))
os.close(fd)
fd, _ = claim("")
os.write(fd, ("%s\n%s" % (signature, text)).encode())
os.close(fd)
name = "%s#%d" % (signature, occurrence)
argv = ["sh", "-c", text]
private, hosts = os.environ.get("ONESP_LOCAL_PRIVATE_DIR"), os.environ.get("ONESP_LOCAL_HOSTS_DIR")
if private and hosts:
    own = os.path.join(hosts, host)
    os.makedirs(own, exist_ok=True)
    argv = ["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$2" && exec sh -c "$3"', "sh", own, private, text]
hold, _, when = os.environ.get("ONESP_TEST_HOLD", "").rpartition(":")

def holding():
    with open(os.path.join(log, "holding.tmp"), "w") as marker:
        marker.write(str(os.getpid()))
    os.rename(os.path.join(log, "holding.tmp"), os.path.join(log, "holding"))
    time.sleep(60)

if hold == name and when == "before":
    holding()
if hold == name and when == "after":
    status = subprocess.run(argv).returncode
    holding()
    sys.exit(status)
os.execvp(argv[0], argv)
'''


def install(stack: Stack) -> Path:
    """Write the script into the stack's directory (once); returns its path."""
    path = stack.root / "bin" / "ssh"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text("#!%s\n%s" % (sys.executable, SCRIPT))
        path.chmod(0o755)
    return path


def environment(stack: Stack, log: Path, hold: Optional[str] = None) -> Dict[str, str]:
    """Environment for an action whose host commands go through the script, logged in ``log``."""
    env = {"ONESP_HOST_EXEC": "ssh", "ONESP_SSH": str(install(stack)), "ONESP_TEST_HOST_LOG": str(log)}
    if hold:
        env["ONESP_TEST_HOLD"] = hold
    return env


def commands(log: Path) -> List[str]:
    """The names of the host commands of a run (``<signature>#<occurrence>``), in the order
    they started (the order of two at once is either)."""
    seen: Dict[str, int] = {}
    names = []
    for entry in sorted(name for name in os.listdir(log) if name.isdigit()):
        signature = (log / entry).read_text().split("\n", 1)[0]
        names.append("%s#%d" % (signature, seen.get(signature, 0)))
        seen[signature] = seen.get(signature, 0) + 1
    return names

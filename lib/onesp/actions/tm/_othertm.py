"""The same live-migration hook of the VM's other TM drivers (OpenNebula's ``migrate_other``).

oned runs premigrate/postmigrate/failmigrate of the system datastore's TM only. A system
TM then runs the same-named script of every other TM_MAD among the VM's disks, with the
same five arguments plus its own name as the sixth and the same stdin, so a Ceph disk of
a VM on a StorPool system datastore is taken care of by the Ceph driver. Scripts are
looked up next to ours (``<remotes>/tm/<tm>/<action>``); a TM without that script has
nothing to do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING, List, Sequence

from ...runtime.actioncontext import Context
from ...runtime.disks import is_storpool_tm
from ...runtime.errors import BackendError

if TYPE_CHECKING:
    from ...one import Vm

_TM_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,31}\Z")
#: The other drivers' hooks get as long as oned would give them.
TIMEOUT = 3600.0


def tm_directory() -> str:
    """``<remotes>/tm``: the parent of the directory our executable was started from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))


def other_tms(vm: Vm) -> List[str]:
    """TM_MADs of the VM's disks other than StorPool's, each once, in a stable order."""
    found = sorted({str(d.tm_mad) for d in vm.disks if d.tm_mad and not is_storpool_tm(d.tm_mad)})
    return [name for name in found if _TM_NAME.match(name)]


def call(ctx: Context, vm: Vm, action: str, argv: Sequence[str], caller: str) -> List[str]:
    """Run ``<tm>/<action> <argv> <caller>`` for each other TM, stdin as we got it; the
    first failure stops the action with that driver's first error line. Returns the TMs run."""
    ran: List[str] = []
    root = tm_directory()
    for name in other_tms(vm):
        script = os.path.join(root, name, action)
        if not os.access(script, os.X_OK):
            ctx.log.info("TM %s has no %s, nothing to do for its disks", name, action)
            continue
        with ctx.step("run %s of TM %s" % (action, name)):
            try:
                proc = subprocess.run([script] + list(argv) + [caller], input=ctx.stdin, capture_output=True,
                                      timeout=TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise BackendError("%s: %s" % (script, exc)) from exc
            if proc.returncode != 0:
                lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
                message = next((ln for ln in lines if not ln.startswith(("ERROR:", "INFO:", "WARN:", "DEBUG:"))),
                               lines[0] if lines else "exit status %d" % proc.returncode)
                raise BackendError("%s/%s failed: %s" % (name, action, message[:300]))
        ran.append(name)
    return ran

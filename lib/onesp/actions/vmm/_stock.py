"""The stock OpenNebula kvm scripts, run on the host as oned would have run them there.

Our helpers replace a VMM action only for what StorPool needs; the rest is the stock
script in ``<SCRIPTS_REMOTE_DIR>/vmm/kvm/`` on the host, given the same arguments and the
plain driver action XML on stdin (what oned's remote execution gives it).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Sequence

from ...runtime.hostexec import check_path

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context, host: str, script: str, argv: Sequence[str], document: bytes) -> str:
    """Run the stock kvm ``script`` on ``host``; returns its stdout (HostError on failure)."""
    path = check_path(posixpath.join(ctx.config.SCRIPTS_REMOTE_DIR, "vmm", "kvm", script))
    with ctx.step("run the stock kvm %s on %s" % (script, host)):
        return ctx.host(host).run([path, *argv], stdin=document, what="kvm %s" % script)

"""tm postmigrate: after a live migration, release the source host.

``postmigrate <src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``, VM
document on stdin (see ``livemigration``). The VM's StorPool volumes are detached from the
source's StorPool client in one VolumesReassignWait (forced, except a persistent READONLY
image that another VM on that host may still use), the other TMs' hooks run, and with
``SP_SYSTEM=ssh`` the VM directory is removed from the source host (last). oned ignores a
failure here; a re-run finishes the job.
"""

from __future__ import annotations

from typing import Any

from . import _livemigration as livemigration, _migration as migration
from ._migration import Change


def run(ctx: Any) -> None:
    m = livemigration.prepare(ctx)
    if m is None:
        return
    args = m.args
    src = ctx.client_id(args.src_host)
    migration.apply(ctx, [Change(v, detach=(src,), restore=src) for v in m.volumes],
                    "detach the volumes of VM %d from %s" % (m.vm.id, args.src_host))
    livemigration.run_other_tms(ctx, m, "postmigrate")
    livemigration.remove_left_behind(ctx, m, args.src_host, args.dst_host)

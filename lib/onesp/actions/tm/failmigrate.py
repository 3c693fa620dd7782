"""tm failmigrate: a live migration failed after premigrate; undo premigrate on the destination.

``failmigrate <src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``, VM
document on stdin (see ``livemigration``). The VM's StorPool volumes are detached from the
destination's StorPool client in one VolumesReassignWait (they stay attached on the
source, where the VM still runs), the other TMs' hooks run, and with ``SP_SYSTEM=ssh`` the
copied VM directory is removed from the destination (last).
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
    dst = ctx.client_id(args.dst_host)
    migration.apply(ctx, [Change(v, detach=(dst,), restore=dst) for v in m.volumes],
                    "detach the volumes of VM %d from %s" % (m.vm.id, args.dst_host))
    livemigration.run_other_tms(ctx, m, "failmigrate")
    livemigration.remove_left_behind(ctx, m, args.dst_host, args.src_host)

"""tm failmigrate: a live migration failed after premigrate; undo premigrate on the destination.

``failmigrate <src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``, VM
document on stdin (see ``livemigration``). The VM's StorPool volumes are detached from the
destination's StorPool client in one VolumesReassignWait (they stay attached on the
source, where the VM still runs), the other TMs' hooks run, and with ``SP_SYSTEM=ssh`` the
copied VM directory is removed from the destination (last).
"""

from __future__ import annotations

from ...runtime import volumes
from ...runtime.actioncontext import Context
from . import _livemigration as livemigration

#: ``failmigrate``'s arguments, the same as the other migrate hooks'.
Args = livemigration.MigrateArgs

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Context) -> None:
    livemigration.release(ctx, Args.parse(ctx.action, ctx.argv), "failmigrate", source=False)

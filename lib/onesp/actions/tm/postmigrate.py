"""tm postmigrate: after a live migration, release the source host.

``postmigrate <src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``, VM
document on stdin (see ``livemigration``). The VM's StorPool volumes are detached from the
source's StorPool client in one VolumesReassignWait (forced, except a persistent READONLY
image that another VM on that host may still use), the other TMs' hooks run, and with
``SP_SYSTEM=ssh`` the VM directory is removed from the source host (last). oned ignores a
failure here; a re-run finishes the job.
"""

from __future__ import annotations

from ...runtime import volumes
from ...runtime.actioncontext import Context
from . import _livemigration as livemigration

#: ``postmigrate``'s arguments, the same as the other migrate hooks'.
Args = livemigration.MigrateArgs

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Context) -> None:
    livemigration.release(ctx, Args.parse(ctx.action, ctx.argv), "postmigrate", source=True)

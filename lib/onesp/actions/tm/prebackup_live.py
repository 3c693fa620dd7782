"""tm prebackup_live: full backup of a running VM's disks; same result as prebackup.

``prebackup_live <host>:<vm dir> <disk ids a:b:c> <deploy id> [<backup job id>] <vm id> <sys ds id>``,
the VM document (plain XML) on stdin, as for prebackup.
StorPool's group snapshot is crash-consistent across all disks by itself; with the VM's
backup FS_FREEZE=AGENT the guest's filesystems are also frozen (virsh domfsfreeze) for
the instant of the snapshot and thawed right after, also on failure.
"""

from __future__ import annotations

from ...runtime.actioncontext import Context
from . import _backups as backups
from .prebackup import backup

#: ``prebackup_live``'s arguments, the same as every backup hook's.
Args = backups.BackupArgs


def run(ctx: Context) -> None:
    backup(ctx, Args.parse(ctx.action, ctx.argv), live=True)

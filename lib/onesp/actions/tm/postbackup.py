"""tm postbackup: remove what prebackup left once the backup datastore has the copies.

``postbackup <host>:<vm dir> <disk ids a:b:c> <deploy id> [<backup job id>] <vm id> <sys ds id>``,
the VM document on stdin. Deletes exactly the snapshots prebackup recorded in
``<vm dir>/backup/.storpool_snapshots`` and then the backup directory. Nothing recorded
(already cleaned) is success.
"""

from __future__ import annotations

from ...runtime.actioncontext import Context
from . import _backups as backups

#: ``postbackup``'s arguments, the same as every backup hook's.
Args = backups.BackupArgs


def cleanup(ctx: Context, args: backups.BackupArgs) -> None:
    j = backups.job(ctx, args)
    removed = backups.clean(ctx, j)
    ctx.log.info("deleted %d backup snapshot(s) of VM %d", removed, j.vm.id)


def run(ctx: Context) -> None:
    cleanup(ctx, Args.parse(ctx.action, ctx.argv))

"""tm postbackup_live: the same cleanup as postbackup, after a backup of a running VM.

``postbackup_live <host>:<vm dir> <disk ids a:b:c> <deploy id> [<backup job id>] <vm id> <sys ds id>``,
the VM document on stdin, as for postbackup.
"""

from __future__ import annotations

from ...runtime.actioncontext import Context
from . import _backups as backups
from .postbackup import cleanup

#: ``postbackup_live``'s arguments, the same as every backup hook's.
Args = backups.BackupArgs


def run(ctx: Context) -> None:
    cleanup(ctx, Args.parse(ctx.action, ctx.argv))

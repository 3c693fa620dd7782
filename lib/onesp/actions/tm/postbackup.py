"""tm postbackup: remove what prebackup left once the backup datastore has the copies.

``postbackup <host>:<vm dir> <disk ids> <deploy id> [<backup job id>] <vm id> <sys ds id>``,
the VM document on stdin. Deletes exactly the snapshots prebackup recorded in
``<vm dir>/backup/.storpool_snapshots`` and then the backup directory. Nothing recorded
(already cleaned) is success.
"""

from __future__ import annotations

from typing import Any

from . import _backups as backups


def cleanup(ctx: Any) -> None:
    j = backups.job(ctx)
    removed = backups.clean(ctx, j)
    ctx.log.info("deleted %d backup snapshot(s) of VM %d", removed, j.vm.id)


def run(ctx: Any) -> None:
    cleanup(ctx)

"""tm prebackup_live: full backup of a running VM's disks; same arguments and result as prebackup.

StorPool's group snapshot is crash-consistent across all disks by itself; with the VM's
backup FS_FREEZE=AGENT the guest's filesystems are also frozen (virsh domfsfreeze) for
the instant of the snapshot and thawed right after, also on failure.
"""

from __future__ import annotations

from typing import Any

from .prebackup import backup


def run(ctx: Any) -> None:
    backup(ctx, live=True)

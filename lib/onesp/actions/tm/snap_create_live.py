"""tm snap_create_live: snapshot the disk of a running VM.

Same arguments and result as snap_create. StorPool snapshots are crash-consistent by
themselves; with DISK_SNAPSHOT_FSFREEZE the guest's filesystems are frozen through
``virsh domfsfreeze`` on the host for the instant of the snapshot and thawed right
after, also when the snapshot fails.
"""

from __future__ import annotations

from typing import Any

from .snap_create import create


def run(ctx: Any) -> None:
    create(ctx, live=True)

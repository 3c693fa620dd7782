"""vmm restore: OpenNebula's kvm restore, with the memory checkpoint in a StorPool volume when SP_CHECKPOINT asks.

``restore-storpool <checkpoint file> <host> <domain> <vm id> <host>`` (VM_MAD
``-l restore=restore-storpool``), the driver action base64 on stdin. See ``_checkpoint`` for what it does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime import volumes
from . import _checkpoint as checkpoint

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context

#: Where this action stops rolling back (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION


def run(ctx: Context) -> None:
    checkpoint.restore(ctx)

"""vmm save: OpenNebula's kvm save, with the memory checkpoint in a StorPool volume when SP_CHECKPOINT asks.

``save-storpool <domain> <checkpoint file> <host> <vm id> <host>`` (VM_MAD
``-l save=save-storpool``), the driver action base64 on stdin. See ``_checkpoint`` for what it does.
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
    checkpoint.save(ctx)

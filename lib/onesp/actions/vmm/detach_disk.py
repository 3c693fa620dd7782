"""vmm detach_disk: hot-detach a disk with the stock kvm script (StorPool disks as block devices).

``detach_disk.storpool <domain> <disk path> <target> <target index> <vm id> <host>`` (VM_MAD
``-l detach_disk=detach_disk.storpool``, optional); see ``hotplug``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _hotplug as hotplug

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> None:
    hotplug.run(ctx, "detach_disk")

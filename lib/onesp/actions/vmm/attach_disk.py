"""vmm attach_disk: hot-attach a disk with the stock kvm script, StorPool disks as block devices.

``attach_disk.storpool <domain> <disk path> <target> <target index> <base64 driver action>
<vm id> <host>`` (VM_MAD ``-l attach_disk=attach_disk.storpool``); see ``hotplug``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _hotplug as hotplug

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> None:
    hotplug.run(ctx, "attach_disk")

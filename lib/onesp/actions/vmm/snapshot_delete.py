"""vmm snapshot_delete: delete the StorPool snapshots of one VM snapshot.

``snapshot_delete-storpool <domain> <hypervisor id> <vm id> <host>`` (VM_MAD
``-l snapshotdelete=snapshot_delete-storpool``). The snapshot names are rebuilt exactly from
the VM's volumes and the hypervisor id (no listing, no substring match); snapshots already
gone are fine, so a repeated run succeeds. A hypervisor id this driver did not make (a libvirt
snapshot of a VM without StorPool disks) is left to the stock kvm script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime import snapshotting, volumes
from . import _document as document
from . import _stock as stock
from . import _vmsnap as vmsnap
from ._args import snapshot_args

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context


def run(ctx: Context) -> None:
    args = snapshot_args("snapshot_delete", ctx.argv)
    source = document.load(ctx, args.vm_id)
    parsed = vmsnap.parse_id(ctx, args.hypervisor_id)
    if parsed is None:
        ctx.log.info("%s is not a StorPool VM snapshot: the stock kvm snapshot_delete handles it", args.hypervisor_id)
        stock.run(ctx, args.host, "snapshot_delete", args.raw, source.document)
        return
    snap_id, timestamp = parsed
    names = [snapshot for _, snapshot in
             vmsnap.pairs(ctx, vmsnap.cleanup_volumes(ctx, source.vm, source.system_ds), snap_id, timestamp)]
    removed = snapshotting.delete_snapshots(ctx, names)
    ctx.log.info("VM %d snapshot %s: %d StorPool snapshot(s) deleted", source.vm.id, args.hypervisor_id, removed)

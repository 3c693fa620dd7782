"""tm snap_revert: bring a VM disk back to its snapshot ``<volume>-snap<snap id>`` (VM powered off).

``snap_revert <host>:<vm dir>/disk.<n> <snap id> <vm id> <ds id>``.

StorPool reverts a volume in place (VolumeRevert): it keeps its name, globalId, tags and
template, so nothing is renamed or re-created and there is no moment when the disk's
volume does not exist (the addon renamed the volume away and created a new one from the
snapshot). StorPool refuses to revert an attached volume, so the volume is detached from
the VM's host, reverted, attached again and its ``disk.<n>`` link refreshed. Each step is
undone on failure: before the revert a failure leaves everything as it was; after it the
disk is attached and linked as before, holding the snapshot's data.

Size: a reverted volume takes the snapshot's size, while oned keeps the disk's SIZE as
it was. onesp never writes oned's database (the addon's UPDATE_ONE_DISK_SIZE ran
``onedb change-body``), so a volume grown after the snapshot is grown back to the disk's
SIZE in oned — taken from the VM document, not from the volume, so a re-run after a
failure between the revert and the grow still knows it: the guest finds the snapshot's
data on a disk of the size oned records.
"""

from __future__ import annotations

from ...runtime import volumes
from ...runtime.actioncontext import Context
from ...runtime.errors import BadInput
from ...runtime.volumes import MIB
from . import _common as common
from . import _snapshots as snapshots

#: ``snap_revert``'s arguments, the same as every snap_* action's.
Args = snapshots.SnapshotArgs
#: Where this action stops rolling back: the revert in place (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.REVERT



def run(ctx: Context) -> None:
    t = snapshots.target(ctx, Args.parse(ctx.action, ctx.argv))
    snapshots.refuse_cdrom(t)
    name = t.volume.name
    with ctx.step("read snapshot %s" % t.snapshot):
        snapshot = ctx.sp.snapshot(t.snapshot)
        origin = snapshot.get("onVolume")
        if origin not in (name, "-", None):
            raise BadInput("snapshot %s was taken from %s, not from %s" % (t.snapshot, origin, name))
    if t.ref.disk.size is not None:
        size_before = int(t.ref.disk.size) * MIB
    else:
        with ctx.step("read volume %s" % name):
            size_before = int(ctx.sp.volume(name)["size"])
    readonly = common.attach_readonly(ctx, t.volume.readonly)
    snapshots.detach_for_revert(ctx, name, t.host, readonly)
    snapshots.revert(ctx, name, t.snapshot)
    if int(snapshot["size"]) < size_before:
        with ctx.step("grow volume %s back to %d bytes" % (name, size_before)):
            volumes.resize(ctx, name, size_before, no_undo="past the revert, the point of no return (REVERT)")
        ctx.log.info("volume %s grown back from the snapshot's %d to %d bytes", name, int(snapshot["size"]),
                     size_before)
    common.link_disk(ctx, t.host, name, t.path, readonly=t.volume.readonly, system_ds=t.ref.system_ds)

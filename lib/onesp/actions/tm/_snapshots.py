"""What the disk-snapshot actions share: the disk they act on, the per-disk limit, revert in place.

A disk snapshot is ``<disk volume>-snap<snap id>`` for every kind of disk the TM handles:
non-persistent and persistent image disks, and volatile disks on a StorPool system
datastore (the addon derived the volume from ``SOURCE`` only and produced ``-snap<N>``
on an empty name for volatile disks). CD-ROMs are read-only clones of the image: oned
offers no snapshots of them and neither do we.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Optional, Sequence

from ...runtime import arguments, attaching, disks, snapshotting, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.errors import AlreadyExists, BadInput, LimitReached, Unsupported
from ...runtime.storpoolerrors import ApiExists
from . import _common as common

if TYPE_CHECKING:
    from ...one import Disk, Vm

LIMIT_KEY = "DISKSNAPSHOT_LIMIT"


@dataclass(frozen=True)
class SnapshotArgs:
    """The arguments of every snap_* action: ``<host>:<vm dir>/disk.<n> <snap id> <vm id> <ds id>``."""

    dst: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    snap_id: Annotated[int, "<snap id>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "SnapshotArgs":
        a = arguments.arity(action, argv, 4)
        return cls(HostPath.parse(a[0], "disk"), arguments.snap_id(a[1]), arguments.vm_id(a[2]), arguments.ds_id(a[3]))


@dataclass(frozen=True)
class SnapshotTarget:
    """The disk a snap_* line names (``common.DiskRef``) and the snapshot name for its snap id."""

    host: str
    path: str  # <vm dir>/disk.<n> on the host
    ref: common.DiskRef
    snap_id: int
    snapshot: str

    @property
    def vm(self) -> Vm:
        return self.ref.vm

    @property
    def disk(self) -> Disk:
        return self.ref.disk

    @property
    def volume(self) -> disks.DiskVolume:
        return self.ref.volume


def target(ctx: Context, args: SnapshotArgs) -> SnapshotTarget:
    """Find the disk's volume and the snapshot's name for the line's ``args``.

    The datastore of the line (the image datastore, or the system datastore for volatile
    disks) configures the StorPool endpoint and the snapshot limit.
    """
    if args.snap_id < 0:
        raise BadInput("a disk snapshot id is required, got %s" % args.snap_id)
    ref = common.load_disk(ctx, args.dst, args.vm_id, args.ds_id)
    if not ref.disk.is_volatile and not disks.is_storpool_tm(ref.disk.tm_mad):
        raise Unsupported("disk %d of VM %d is not on StorPool (TM_MAD %s)" % (ref.disk_id, ref.vm_id,
                                                                                ref.disk.tm_mad))
    return SnapshotTarget(args.dst.host, args.dst.path, ref, args.snap_id,
                          ctx.names.disk_snapshot(ref.volume.name, args.snap_id))


def refuse_cdrom(t: SnapshotTarget) -> None:
    if t.volume.type_tag == "CDROM":
        raise Unsupported("disk %d of VM %d is a CD-ROM; CD-ROMs have no snapshots" % (t.disk.disk_id, t.vm.id))


def check_limit(ctx: Context, t: SnapshotTarget) -> None:
    """Refuse a snapshot beyond DISKSNAPSHOT_LIMIT, counting the disk's snapshots in oned plus the new one.

    Precedence as in the addon: VM user template > the line's datastore > the system
    datastore > configuration (a value pinned through the environment beats both
    datastores). oned records the new snapshot in the VM before it runs snap_create, so
    the one being made is counted once whether or not the document already lists it.
    """
    vm_value = t.vm.user_template.get(LIMIT_KEY)
    system_value = None
    if LIMIT_KEY not in ctx.config.pinned and _blank(t.ref.datastore.template.get(LIMIT_KEY)):
        system_value = t.ref.system_ds.template.get(LIMIT_KEY)
    limit = ctx.config.limit(LIMIT_KEY, vm_value, system_value)
    if limit is None:
        return
    count = len([s for s in t.disk.snapshots if s.id != t.snap_id]) + 1
    if count > limit:
        raise LimitReached("%s of %d snapshots per disk reached: disk %d of VM %d already has %d" % (
            LIMIT_KEY, limit, t.ref.disk_id, t.ref.vm_id, count - 1))


def _blank(value: Optional[str]) -> bool:
    return not str(value or "").strip()


def take(ctx: Context, t: SnapshotTarget) -> bool:
    """VolumeSnapshot ``<volume>-snap<N>``; an existing one taken from this volume is accepted.

    Returns False when the snapshot was already there (a re-run of the same line). The
    snapshot carries no tags, as with the addon: a persistent image's disk snapshots
    outlive the VM and become image snapshots, so a VM tag on them would go stale.
    The undo is registered before the call, so a snapshot made by a call whose answer
    was lost is removed as well; one that existed before this run is never removed.
    """
    volumes.hold(ctx, t.snapshot)  # a concurrent run of this line ends before this one looks
    ours = {"made": True}
    with ctx.step("snapshot volume %s as %s" % (t.volume.name, t.snapshot)):
        try:
            snapshotting.snapshot_once(ctx, t.volume.name, t.snapshot, ours)
        except ApiExists as exc:
            ours["made"] = False
            existing = ctx.sp.snapshot_or_none(t.snapshot)
            if existing is None:
                raise AlreadyExists("%s exists and is a volume, not a snapshot" % t.snapshot) from exc
            if existing.get("onVolume") != t.volume.name:
                raise AlreadyExists("snapshot %s exists but was taken from %s, not from %s" % (
                    t.snapshot, existing.get("onVolume"), t.volume.name)) from exc
            ctx.log.info("snapshot %s exists from an earlier run", t.snapshot)
            return False
    return True


def detach_for_revert(ctx: Context, name: str, host: str, readonly: bool) -> None:
    """Detach ``name`` from ``host`` so StorPool lets it be reverted; undo attaches it again.

    The re-attach is registered before the detach is sent: a detach that took effect but
    whose answer was lost must be undone too, and attaching what is attached is harmless.
    The detach is not forced (the addon forced it): oned reverts only powered-off VMs, so
    a device that is still open on the host means something uses the disk, and StorPool's
    refusal stops the revert before anything changed.
    """
    client = ctx.client_id(host)
    attaching.reattach_on_failure(ctx, name, client, readonly=readonly, host=host)
    attaching.detach(ctx, name, host, force=False)


def revert(ctx: Context, name: str, snapshot: str) -> None:
    """VolumeRevert in place: name, globalId, tags and template stay; size becomes the snapshot's.

    There is no undo: the volume's data is replaced, which is what was asked for.
    """
    with ctx.step("revert volume %s to snapshot %s" % (name, snapshot)):
        snapshotting.revert(ctx, name, snapshot)

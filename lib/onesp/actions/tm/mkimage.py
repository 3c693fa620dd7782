"""tm mkimage: a volatile disk as a StorPool volume in a StorPool system datastore.

``mkimage <size MB> <format> <host>:<vm dir>/disk.<n> <vm id> <system ds id>``. The volume
``one-sys-<vm>-<n>-raw`` is created with the system datastore's template and the tags
(type VOL, or VOLRO for READONLY) and, with SP_DISK_LIMITS, the disk's limits in one call,
attached to the host and linked as
``disk.<n>``; with an FS on the disk it is formatted there first (mkfs, file system from
an allow-list). ``mkswap`` is the same with a swap area (``one-sys-<vm>-<n>-swap``).

Only raw disks exist on StorPool (the addon refuses other formats too). A volume adopted
from an earlier run of the same action is never formatted again: a guest may already use it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, List, Sequence

from ...runtime import arguments, attaching, disks, limits, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.errors import BadInput, Unsupported
from ._common import attach_readonly, disk_tags, link_disk, load_disk, owner_tags

if TYPE_CHECKING:
    from ...one import Disk
#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION

#: File systems mkimage makes, with the option that lets mkfs use a whole device unasked.
FILESYSTEMS = {"ext2": ["-F"], "ext3": ["-F"], "ext4": ["-F"], "xfs": ["-f"], "btrfs": ["-f"], "vfat": []}
#: Seconds mkfs/mkswap may take on a large device (SSH_TIMEOUT is for quick commands).
FORMAT_TIMEOUT = 3600


@dataclass(frozen=True)
class Args:
    """``mkimage``'s arguments."""

    size_mb: Annotated[int, "<size MB>"]
    fmt: Annotated[str, "<format>"]
    dst: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<system ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 5)
        return cls(arguments.size_mb(a[0]), arguments.disk_format(a[1]), HostPath.parse(a[2], "destination"),
                   arguments.vm_id(a[3]), arguments.ds_id(a[4]))


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    if args.fmt != "raw":
        raise Unsupported("volatile disks on StorPool are raw block devices; format %s is not supported" % args.fmt)
    make_volatile(ctx, args.dst, args.size_mb, args.vm_id, args.ds_id, swap=False)


def make_volatile(ctx: Context, dst: HostPath, size_mb: int, vm_id: int, ds_id: int, swap: bool) -> None:
    """Create, format (swap or FS) and link the volatile disk at ``dst``."""
    ref = load_disk(ctx, dst, vm_id, ds_id)
    disk = ref.disk
    what = "disk %d of VM %d" % (ref.disk_id, ref.vm_id)
    if not disk.is_volatile:
        raise BadInput("%s is not a volatile disk" % what)
    if disk.is_swap != swap:
        raise BadInput("%s is %s: oned makes it with %s" % (what, "a swap disk" if disk.is_swap else "not a swap disk",
                                                            "mkswap" if disk.is_swap else "mkimage"))
    for attribute, value in (("DRIVER", disk.driver), ("FORMAT", disk.format)):
        if (value or "raw").lower() != "raw":
            raise Unsupported("%s has %s %s; volatile disks on StorPool are raw" % (what, attribute, value))
    command = _format_command(ctx, disk, swap)
    disk_limits = limits.for_disk(ctx.config, disk)
    name = ref.volume.name
    qos = disks.qos_vm_disk(ctx.config, ref.vm, ref.disk_id, ref.system_ds)
    created = volumes.create(ctx, name, size_mb=size_mb, template=ctx.names.template(ds_id),
                             tags=disk_tags(ctx, ref, qos), owner=owner_tags(ctx, ref.vm_id, ref.disk_id),
                             limits=disk_limits)
    host = dst.host
    if not created or not command:
        link_disk(ctx, host, name, dst.path, readonly=ref.volume.readonly, system_ds=ref.system_ds,
                  attach_undo=created)
        return
    link_disk(ctx, host, name, dst.path, readonly=False, system_ds=ref.system_ds)
    device = ctx.device_path(name)
    with ctx.step("%s %s on %s" % (command[0], name, host)):
        ctx.host(host).run(command + [device], timeout=FORMAT_TIMEOUT, what="%s %s" % (command[0], device))
    if attach_readonly(ctx, ref.volume.readonly):
        attaching.detach(ctx, name, host)
        attaching.attach(ctx, name, host, readonly=True)


def _format_command(ctx: Context, disk: Disk, swap: bool) -> List[str]:
    """argv (without the device) that prepares the volume, or [] for a blank disk."""
    if swap:
        return shlex.split(ctx.config.MKSWAP) + ["-L", "swap"]
    if not disk.fs:
        return []
    fs = disk.fs.strip().lower()
    if fs not in FILESYSTEMS:
        raise Unsupported("disk %d: file system %r is not one of %s" % (disk.disk_id, disk.fs,
                                                                        ", ".join(sorted(FILESYSTEMS))))
    return shlex.split(ctx.config.MKFS) + ["-t", fs] + FILESYSTEMS[fs]

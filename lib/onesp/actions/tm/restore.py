"""tm restore: put a VM's disks back to a FULL backup, in place (VM powered off).

``restore <host>:<vm dir> <vm id> <backup image id> <increment id> <disk id|-1>`` (6.10+).

1. The backup datastore's own driver lists the backup (``ls``) and each disk's file is
   streamed to ``<vm dir>/restore/`` on the VM's host and checked with ``qemu-img info``
   (qcow2, no backing file: only FULL backups), before any volume is touched.
2. Per disk, in place: a safety snapshot ``<volume>-tmRestore-<token>`` of the volume, its
   size made the backup's (grown when the backup is larger; when it is smaller, cut to
   the backup's size and grown back, so that what lies beyond reads as zeros as it did in
   the backup, and the disk keeps the size oned records), then ``qemu-img convert -n``
   writes the backup into the volume's device on the host. The volume keeps its name,
   globalId, tags and attachment (the addon renamed it away and created a new one).
3. If anything fails, every disk already written is reverted to its safety snapshot
   (detach, VolumeRevert, attach again) and the snapshot deleted. On success the safety
   snapshots are kept for DELAY_DELETE, like the old data the addon delay-deleted, or
   deleted at once when it is empty.
4. With disk 0, the vTPM state (``disk.tpm.0``) and the NVRAM (``disk.nvram.0``) come back
   too, fetched and checked with the disks and put in place last (``_firmware``).
"""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Dict, List, Sequence, Tuple

from ...runtime import arguments, disks, snapshotting, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.disks import DiskVolume
from ...runtime.errors import BackendError, BadInput, NotFound, OnespError, Unsupported
from ...runtime.naming import unique_token
from . import _backup_source as backup_source
from . import _backups as backups
from . import _common as common
from . import _firmware as firmware

if TYPE_CHECKING:
    from ...runtime.hostexec import Host

SAFETY_MARK = "tmRestore"
#: Why the steps of writing a disk have no undo of their own.
RESTORE_UNDO = "snapshotting.roll_back_to, registered first, reverts the disk to its safety snapshot"


@dataclass(frozen=True)
class Args:
    """``restore``'s arguments."""

    dst: Annotated[HostPath, "<host>:<vm dir>"]
    vm_id: Annotated[int, "<vm id>"]
    image_id: Annotated[int, "<backup image id>"]
    increment_id: Annotated[int, "<increment id>"]
    disk_id: Annotated[int, "<disk id|-1>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 5)
        return cls(HostPath.parse(a[0], "VM directory"), arguments.vm_id(a[1]), arguments.parse_id(a[2], "backup image id"),
                   arguments.id_or_all(a[3], "increment id"), arguments.id_or_all(a[4], "disk id"))


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    if args.dst.is_disk:
        raise BadInput("%s is a disk path, expected the VM directory" % args.dst)
    host, work = args.dst.host, posixpath.join(args.dst.path, "restore")
    source = backup_source.read(ctx, args.vm_id, args.image_id)
    vm = source.vm
    ctx.use_datastore(common.system_datastore(ctx, vm, args.dst))
    others: Dict[str, str] = {}
    urls = backup_source.backup_urls(ctx, source, args.increment_id, others)
    if args.disk_id >= 0:
        urls = {d: u for d, u in urls.items() if d == args.disk_id}
    if not urls:
        raise NotFound("backup image %d holds no disk %s of VM %d" % (
            args.image_id, args.disk_id if args.disk_id >= 0 else "at all", vm.id))
    targets: List[Tuple[int, str, DiskVolume]] = []
    for disk_id in sorted(urls):
        disk = vm.disk(disk_id)
        if not disk.is_volatile and not disks.is_storpool_tm(disk.tm_mad):
            raise Unsupported("disk %d of VM %d is not on StorPool (TM_MAD %s)" % (disk_id, vm.id, disk.tm_mad))
        targets.append((disk_id, urls[disk_id], disks.disk_volume(ctx.names, vm.id, disk)))
    client = ctx.client_id(host)
    node = ctx.host(host)

    with ctx.step("prepare %s on %s" % (work, host)):
        node.run(["rm", "-rf", "--", work], ["mkdir", "-p", "--", work], what="prepare %s" % work)
    ctx.undo(node.run, ["rm", "-rf", "--", work], what="remove %s" % work, label="remove %s on %s" % (work, host))
    qemu_img = shlex.split(ctx.config.QEMU_IMG)
    fetched: List[Tuple[str, int]] = []
    for disk_id, url, _ in targets:
        path = posixpath.join(work, "disk.%d" % disk_id)
        with ctx.step("fetch the backup of disk %d to %s on %s" % (disk_id, path, host)):
            backup_source.download(ctx, url, host, path, backups.COPY_TIMEOUT)
        fetched.append((path, _virtual_size(ctx, node, qemu_img, path, disk_id)))
    firmware_state = firmware.fetch(  # the vTPM state and the NVRAM, also before anything is changed
        ctx, lambda url, path: backup_source.download(ctx, url, host, path, backups.COPY_TIMEOUT),
        others, urls, vm, host, work)

    token = unique_token(4)
    safety: List[str] = []
    for (_, _, volume), (path, size) in zip(targets, fetched):
        safety.append(_write_in_place(ctx, node, qemu_img, volume, path, size, client, token))
    safety += firmware.put_back(ctx, firmware_state, vm, host, args.dst.path, work, client)

    _finish(ctx, node, work, safety)


def _virtual_size(ctx: Context, node: Host, qemu_img: List[str], path: str, disk_id: int) -> int:
    """The disk size a backup file holds; only a self-contained qcow2 (a FULL backup) is accepted."""
    with ctx.step("inspect the backup of disk %d" % disk_id):
        text = node.run(qemu_img + ["info", "--output=json", "-f", "qcow2", path], what="qemu-img info %s" % path)
        try:
            info = json.loads(text)
            size = int(info["virtual-size"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError("qemu-img info %s gave no virtual size" % path) from exc
        if info.get("backing-filename") or info.get("full-backing-filename"):
            raise Unsupported("the backup of disk %d is an increment (it has a backing file); only FULL backups "
                              "are restored" % disk_id)
    return size


def _write_in_place(ctx: Context, node: Host, qemu_img: List[str], volume: DiskVolume, path: str, size: int,
                    client: int, token: str) -> str:
    """Safety snapshot, size, write; returns the safety snapshot's name."""
    name = volume.name
    with ctx.step("read volume %s" % name):
        current = int(ctx.sp.volume(name)["size"])
    safety = ctx.names.temporary(name, SAFETY_MARK, token)
    readonly = common.attach_readonly(ctx, volume.readonly)
    ctx.undo(snapshotting.roll_back_to, ctx, name, safety, client, readonly, label="revert %s to %s" % (name, safety))
    with ctx.step("snapshot volume %s as %s" % (name, safety)):
        snapshotting.take_snapshot(ctx, name, safety, no_undo=RESTORE_UNDO)
    with ctx.step("resize volume %s for the backup" % name):
        if size > current:
            volumes.resize(ctx, name, size, no_undo=RESTORE_UNDO)
        elif size < current:
            volumes.resize(ctx, name, size, shrink_ok=True, no_undo=RESTORE_UNDO)
            volumes.resize(ctx, name, current, no_undo=RESTORE_UNDO)
    with ctx.step("write the backup into %s on %s" % (name, node.name)):
        node.run(qemu_img + ["convert", "-n", "-f", "qcow2", "-O", "raw", path, ctx.device_path(name)],
                 timeout=backups.COPY_TIMEOUT, what="qemu-img convert %s" % path)
    return safety


def _finish(ctx: Context, node: Host, work: str, safety: List[str]) -> None:
    """The restore is done: keep the old data for DELAY_DELETE (or drop it) and remove the work files.

    Failures here are logged, not raised: failing the action now would revert disks that
    were restored correctly.
    """
    delay = ctx.config.DELAY_DELETE
    for name in safety:
        try:
            snapshotting.expire_snapshot(ctx, name, delay, no_undo="the restore is done: this is tidying up")
        except OnespError as exc:
            ctx.log.error("restore done, but snapshot %s of the data before it stays: %s", name, exc)
    try:
        node.run(["rm", "-rf", "--", work], what="remove %s" % work)
    except OnespError as exc:
        ctx.log.error("restore done, but %s on %s stays: %s", work, node.name, exc)

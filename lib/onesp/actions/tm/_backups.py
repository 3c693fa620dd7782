"""What prebackup and postbackup share: the backup job a line describes, the record of its snapshots, cleanup.

``prebackup <host>:<vm dir> <disk ids a:b:c> <deploy id> [<backup job id>] <vm id> <sys ds id>``
with the VM document (plain XML) on stdin. The backup directory is ``<vm dir>/backup`` on
the host, where the backup datastore driver picks up ``disk.<id>.0`` and ``vm.xml``.

The names of the StorPool snapshots a prebackup makes (``<volume>-ONEBACKUP-<unix ts>``)
are written to ``<vm dir>/backup/.storpool_snapshots`` before the snapshots exist, so a
later run (postbackup, or the next prebackup after a failure) deletes exactly those,
never anything found by listing or by a name prefix. Names read back from the host are
trusted only when they are what this VM's volumes and the recorded timestamp give.
"""

from __future__ import annotations

import base64
import json
import posixpath
from dataclasses import dataclass
from typing import Annotated, Any, Dict, List, Optional, Sequence, Tuple

from ...one import Vm, decode_base64, decode_vm_document
from ...one.xmlsafe import looks_like_xml
from ...runtime import arguments, disks, snapshotting
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.disks import DiskVolume
from ...runtime.errors import BadInput, OnespError, Unsupported

#: Marker in backup snapshot names, as the addon names them.
BACKUP_MARK = "ONEBACKUP"
RECORD = ".storpool_snapshots"
#: A disk copy takes as long as the disk needs; oned's own driver timeout bounds the action.
COPY_TIMEOUT = 72 * 3600
_B64_LINE = 60  # vm.xml is base64 in lines of 60, as oned's own TM drivers write it


@dataclass(frozen=True)
class BackupArgs:
    """The arguments of prebackup, postbackup and their _live forms (the job id only in the six-argument form)."""

    dst: Annotated[HostPath, "<host>:<vm dir>"]
    disk_ids: Annotated[Tuple[int, ...], "<disk ids a:b:c>"]
    deploy_id: Annotated[str, "<deploy id>"]
    job_id: Annotated[Optional[str], "[<backup job id>]"]  # as given, unchecked: nothing here uses it
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<sys ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "BackupArgs":
        a = arguments.arity(action, argv, 5, 6)
        ids = arguments.disk_ids(a[1])  # checked before the directory, as ever: the same first error line
        vm, ds = (a[4], a[5]) if len(a) > 5 else (a[3], a[4])
        return cls(HostPath.parse(a[0], "VM directory"), ids, arguments.deploy_id(a[2]), a[3] if len(a) > 5 else None,
                   arguments.vm_id(vm), arguments.ds_id(ds))


@dataclass(frozen=True)
class BackupJob:
    """One pre/postbackup line and the VM document that came with it."""

    host: str
    vm_dir: str
    vm: Vm  # from stdin
    vm_xml: bytes
    disk_ids: Tuple[int, ...]
    deploy_id: Optional[str]

    @property
    def backup_dir(self) -> str:
        return posixpath.join(self.vm_dir, "backup")

    @property
    def record_path(self) -> str:
        return posixpath.join(self.backup_dir, RECORD)

    def disk_file(self, disk_id: int) -> str:
        """Where the backup datastore driver expects a full backup of a disk (increment 0)."""
        return posixpath.join(self.backup_dir, "disk.%d.0" % disk_id)


def job(ctx: Context, args: BackupArgs) -> BackupJob:
    """The line's job with the VM document on stdin; the system datastore configures the context."""
    if args.dst.is_disk:
        raise BadInput("%s is a disk path, expected the VM directory" % args.dst)
    with ctx.step("decode the VM document"):
        raw = ctx.stdin
        if not raw.strip():
            raise BadInput("the VM document is missing on stdin")
        xml = raw.strip() if looks_like_xml(raw) else decode_base64(raw, what="VM document")
        vm = decode_vm_document(xml)
    if vm.id != args.vm_id:
        raise BadInput("the VM document on stdin is VM %d, the line names VM %d" % (vm.id, args.vm_id))
    ctx.one.remember(vm)
    with ctx.step("read datastore %d" % args.ds_id):
        ctx.use_datastore(ctx.one.datastore(args.ds_id))
    return BackupJob(args.dst.host, args.dst.path, vm, xml, tuple(args.disk_ids), args.deploy_id)


def disk_volumes(ctx: Context, j: BackupJob) -> List[Tuple[int, DiskVolume]]:
    """(disk id, volume) of every disk the line asks for; a disk not on StorPool is refused."""
    if not j.disk_ids:
        raise BadInput("the backup line names no disks")
    found: List[Tuple[int, DiskVolume]] = []
    for disk_id in j.disk_ids:
        disk = j.vm.disk(disk_id)
        if not disk.is_volatile and not disks.is_storpool_tm(disk.tm_mad):
            raise Unsupported("disk %d of VM %d is not on StorPool (TM_MAD %s); it cannot be backed up here" % (
                disk_id, j.vm.id, disk.tm_mad))
        found.append((disk_id, disks.disk_volume(ctx.names, j.vm.id, disk)))
    return found


def check_full(vm: Vm) -> None:
    mode = (vm.backup.mode or "FULL").strip().upper()
    if mode != "FULL":
        raise Unsupported("%s backups are not supported on StorPool, only FULL (VM %d BACKUP_CONFIG/MODE)" % (
            mode, vm.id))


def snapshot_name(ctx: Context, volume: str, timestamp: int) -> str:
    return ctx.names.temporary(volume, BACKUP_MARK, str(int(timestamp)))


def vm_xml_file(j: BackupJob) -> bytes:
    """``vm.xml`` of the backup directory: the VM document in base64, 60 characters a line."""
    encoded = base64.b64encode(j.vm_xml).decode("ascii")
    return ("\n".join(encoded[i:i + _B64_LINE] for i in range(0, len(encoded), _B64_LINE)) + "\n").encode("ascii")


def write_record(ctx: Context, j: BackupJob, timestamp: int, names: Sequence[str]) -> None:
    data = json.dumps({"vm": j.vm.id, "timestamp": int(timestamp), "snapshots": list(names)}, indent=1)
    with ctx.step("write %s on %s" % (j.record_path, j.host)):
        ctx.host(j.host).write_file(j.record_path, (data + "\n").encode("ascii"))


def recorded_snapshots(ctx: Context, j: BackupJob) -> Optional[List[str]]:
    """The snapshot names an earlier prebackup recorded (None when there is no record).

    A name is kept only if it is exactly the backup snapshot of one of this VM's volumes
    for the recorded timestamp; anything else in the file is logged and ignored.
    """
    node = ctx.host(j.host)
    with ctx.step("read %s on %s" % (j.record_path, j.host)):
        text = node.run(["sh", "-c", 'if [ -f "$1" ]; then cat -- "$1"; fi', "sh", j.record_path],
                        what="read %s" % j.record_path)
    if not text.strip():
        return None
    try:
        record: Dict[str, Any] = json.loads(text)
        timestamp = int(record["timestamp"])
        listed = [str(n) for n in record["snapshots"]]
    except (ValueError, KeyError, TypeError) as exc:
        ctx.log.error("%s on %s is not a snapshot record (%s); its snapshots must be removed by hand",
                      j.record_path, j.host, exc)
        return []
    known = {snapshot_name(ctx, v.name, timestamp)
             for v in disks.vm_volumes(ctx.names, j.vm, system_on_storpool=True, include_context=False)}
    trusted = [n for n in listed if n in known]
    for name in listed:
        if name not in known:
            ctx.log.warning("%s lists %r, which is no backup snapshot of VM %d: left alone", j.record_path, name, j.vm.id)
    return trusted


def discard(ctx: Context, j: BackupJob, names: Sequence[str]) -> None:
    """Delete exactly ``names`` (detached first; missing ones are fine), then the backup directory.

    Every snapshot is tried; the directory, with the record in it, is removed only after
    all of them are gone, so a deletion that fails leaves the record for the next run.
    """
    failed: Optional[OnespError] = None
    for name in names:
        try:
            snapshotting.delete_snapshots(ctx, [name])
        except OnespError as exc:
            ctx.log.error("could not delete backup snapshot %s: %s", name, exc)
            failed = failed or exc
    if failed is not None:
        raise failed
    with ctx.step("remove %s on %s" % (j.backup_dir, j.host)):
        ctx.host(j.host).run(["rm", "-rf", "--", j.backup_dir], what="remove %s" % j.backup_dir)


def clean(ctx: Context, j: BackupJob) -> int:
    """Remove what an earlier prebackup of this VM left: its recorded snapshots and the backup directory."""
    names = recorded_snapshots(ctx, j)
    discard(ctx, j, names or [])
    return len(names or [])

"""tm prebackup: full backup of a VM's disks into ``<vm dir>/backup/disk.<id>.0`` (qcow2) on its host.

``prebackup <host>:<vm dir> <disk ids a:b:c> <deploy id> [<backup job id>] <vm id> <sys ds id>``,
the VM document (plain XML) on stdin. The backup datastore driver copies the directory
away afterwards, and postbackup removes what this left.

1. What an earlier prebackup of this VM left (a failed run) is removed first: the snapshots
   named in its record and the backup directory.
2. The record of this run's snapshot names is written before the snapshots exist.
3. One VolumesGroupSnapshot takes every requested disk at the same instant
   (``<volume>-ONEBACKUP-<unix ts>``, tagged virt/nloc/nvm like the addon's).
4. The snapshots are attached read-only to the host in one call, each is converted with
   ``qemu-img convert -f raw -O qcow2`` from its device, and they are detached in one call.
   ``-f raw`` is given on purpose: a guest can write a qcow2 header into its own disk, and
   letting qemu-img probe the format would let it name backing files on the host.

Right after the snapshot, the vTPM state (``disk.tpm.0``, as OpenNebula 7 writes it) and the
NVRAM (``disk.nvram.0``) are added beside the disks (``_firmware``).

The snapshots stay until postbackup. Any failure deletes them and the backup directory.
Only FULL backups; with an INCREMENT backup configuration the action refuses.
"""

from __future__ import annotations

import shlex
import time

from ...runtime import attaching, libvirt, snapshotting
from ...runtime.actioncontext import Context
from . import _backups as backups
from . import _firmware as firmware

#: ``prebackup``'s arguments, the same as every backup hook's.
Args = backups.BackupArgs


def backup(ctx: Context, args: backups.BackupArgs, live: bool) -> None:
    j = backups.job(ctx, args)
    backups.check_full(j.vm)
    disk_volumes = backups.disk_volumes(ctx, j)
    client = ctx.client_id(j.host)
    removed = backups.clean(ctx, j)
    if removed:
        ctx.log.info("removed %d backup snapshot(s) an earlier run of VM %d left", removed, j.vm.id)

    timestamp = int(time.time())
    pairs = [(v.name, backups.snapshot_name(ctx, v.name, timestamp)) for _, v in disk_volumes]
    names = [snap for _, snap in pairs]
    backups.write_record(ctx, j, timestamp, names)
    ctx.undo(backups.discard, ctx, j, names, label="delete backup snapshots of VM %d" % j.vm.id)
    node = ctx.host(j.host)
    with ctx.step("write %s/vm.xml on %s" % (j.backup_dir, j.host)):
        node.write_file(j.backup_dir + "/vm.xml", backups.vm_xml_file(j))

    freeze = live and (j.vm.backup.fs_freeze or "").strip().upper() == "AGENT"
    if live and (j.vm.backup.fs_freeze or "").strip().upper() == "SUSPEND":
        ctx.log.info("FS_FREEZE=SUSPEND is not done here; the group snapshot is crash-consistent")
    with libvirt.frozen(ctx, j.host, j.deploy_id, enabled=freeze):
        with ctx.step("snapshot disks %s of VM %d" % (",".join(str(d) for d, _ in disk_volumes), j.vm.id)):
            snapshotting.group_snapshot(ctx, pairs, ctx.tags.vm_group(j.vm.id),
                                   no_undo="backups.discard, registered first, deletes the snapshots")
    firmware.back_up(ctx, j, live)

    with ctx.step("attach %s to %s" % (", ".join(names), j.host)):
        attaching.reassign(ctx, [{"snapshot": name, "ro": [client]} for name in names],
                         attach_timeout=ctx.config.ATTACH_TIMEOUT,
                         no_undo="backups.discard, registered first, detaches the snapshots it deletes")
    qemu_img = shlex.split(ctx.config.QEMU_IMG)
    for (disk_id, _), name in zip(disk_volumes, names):
        target = j.disk_file(disk_id)
        with ctx.step("copy %s to %s on %s" % (name, target, j.host)):
            node.run(qemu_img + ["convert", "-f", "raw", "-O", "qcow2", ctx.device_path(name), target],
                     timeout=backups.COPY_TIMEOUT, what="qemu-img convert %s" % name)
    with ctx.step("detach %s from %s" % (", ".join(names), j.host)):
        attaching.reassign(ctx, [{"snapshot": name, "detach": [client], "force": True} for name in names],
                         no_undo="the copies are made; the snapshots stay for postbackup, detached")


def run(ctx: Context) -> None:
    backup(ctx, Args.parse(ctx.action, ctx.argv), live=False)

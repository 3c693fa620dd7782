"""tm premigrate: before a live migration, make the VM's disks usable on the destination.

``premigrate <src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``, VM
document on stdin (see ``livemigration`` for who calls it and which volumes move). Every
StorPool volume of the VM is attached to the destination's StorPool client in one
VolumesReassignWait (rw, READONLY_MODE for read-only ones) while it stays attached on the
source, where the VM still runs. With ``SP_SYSTEM=ssh`` the VM directory is copied to the
destination host. ``disk.<n>`` on the destination points at each volume. The UEFI NVRAM
file (``_nvram``) is first saved into its volume on the source, where the VM runs (so the
volume holds the NVRAM as of this migration), and written from the volume on the
destination only when no regular file is there after the copy (QEMU rewrites the
destination's flash from the migrated state; it only needs the file) and the source had
something at that path (a domain the addon's deploy tweak made opens the device itself, and
a file it does not use would later be saved over the NVRAM it changed). Any failure undoes
all of it, so the destination is as before (the saved volume aside); a second run changes
nothing.
A move to another system datastore on the same host attaches nothing (the volumes are
attached there already, and the undo of an attach would detach them from the running VM); its
NVRAM is saved from the previous datastore's directory, which the running domain still uses,
and written into the new one, where its next deploy will look.
"""

from __future__ import annotations

from ...runtime import volumes
from ...runtime.actioncontext import Context
from ...runtime.errors import Unsupported
from . import _livemigration as livemigration
from . import _migration as migration
from . import _nvram as uefi
from . import _vmdir as vmdir
from ._migration import Change

#: ``premigrate``'s arguments, the same as the other migrate hooks'.
Args = livemigration.MigrateArgs
#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION



def run(ctx: Context) -> None:
    m = livemigration.prepare(ctx, Args.parse(ctx.action, ctx.argv))
    if m is None:
        return
    args = m.args
    if m.copies_directory:
        foreign = migration.foreign_disks(m.vm)
        if foreign:
            raise Unsupported("VM %d: disk %s is on TM %s; with SP_SYSTEM=ssh only StorPool (and Ceph) disks can "
                              "be live-migrated" % (m.vm.id, foreign[0].disk_id, foreign[0].tm_mad))
    livemigration.refuse_another_cluster(ctx, m)
    dst = None if m.same_host else ctx.client_id(args.dst_host)
    copies = m.copies_directory and not m.same_host
    nvram = migration.nvram_member(m.volumes)
    nvram_size = uefi.volume_size(ctx, nvram.name) if nvram is not None else None
    saved = None
    if nvram is not None and nvram_size is not None:
        running_dir = livemigration.previous_dir(m) if m.same_host else args.vm_dir
        saved = uefi.save(ctx, args.src_host, m.vm, running_dir, nvram.name, nvram_size)
    seen = vmdir.survey(ctx, args.src_host, args.vm_dir, args.dst_host, args.vm_dir) if copies else None
    if m.system_tm:
        vmdir.make(ctx, args.dst_host, args.vm_dir, m.marker, seen.destination_existed if seen else None)
    if dst is None:  # the same host: every volume is attached there already
        linked = list(m.volumes)
    else:
        linked = migration.moved(migration.apply(ctx, [Change(v, attach=dst) for v in m.volumes],
                                                 "attach the volumes of VM %d to %s" % (m.vm.id, args.dst_host)))
    if seen is not None:
        vmdir.copy(ctx, args.src_host, args.vm_dir, args.dst_host, args.vm_dir, seen)
    migration.link(ctx, args.dst_host, args.vm_dir, linked, m.marker)
    if nvram is not None and saved is not None and saved.path_in_use and nvram in linked:
        uefi.restore(ctx, args.dst_host, m.vm, args.vm_dir, nvram.name, saved.size, keep_file=True)
    livemigration.run_other_tms(ctx, m, "premigrate")

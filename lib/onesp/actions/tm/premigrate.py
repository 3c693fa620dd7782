"""tm premigrate: before a live migration, make the VM's disks usable on the destination.

``premigrate <src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``, VM
document on stdin (see ``livemigration`` for who calls it and which volumes move). Every
StorPool volume of the VM is attached to the destination's StorPool client in one
VolumesReassignWait (rw, READONLY_MODE for read-only ones) while it stays attached on the
source, where the VM still runs. With ``SP_SYSTEM=ssh`` the VM directory is copied to the
destination host. ``disk.<n>`` on the destination points at each volume. Any failure
undoes all of it, so the destination is as before; a second run changes nothing.
A move to another system datastore on the same host attaches nothing (the volumes are
attached there already, and the undo of an attach would detach them from the running VM).
"""

from __future__ import annotations

from typing import Any

from ...errors import Unsupported
from . import _livemigration as livemigration, _migration as migration, _vmdir as vmdir
from ._migration import Change


def run(ctx: Any) -> None:
    m = livemigration.prepare(ctx)
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
    livemigration.run_other_tms(ctx, m, "premigrate")

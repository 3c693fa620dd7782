"""tm mv: a disk, or the VM directory, follows the VM to another host or datastore.

``mv <src host>:<path> <dst host>:<path> <vm id> <ds id>``, emitted for stop and undeploy
(host to front-end), resume (front-end to host) and cold migration (host to host, also
from a host that is down), per disk first (``.../disk.<n>``, ds id = the disk's datastore)
and then for the VM directory (ds id = the system datastore).

What moves is decided by the VM's LCM state (``moves``): the volume is detached from the
source host's StorPool client, attached to the destination's, or both in one
VolumesReassignWait, and ``disk.<n>`` on the destination points at it. The directory call
moves the system datastore's own volumes (context ISO, NVRAM) the same way and, with
``SP_SYSTEM=ssh``, the directory's files (``vmdir``). The UEFI NVRAM file (``_nvram``) is
saved into its volume on the source before the volume leaves it (stop, undeploy, cold
migration from a host that is up) and written from the volume on the destination (resume,
cold migration), replacing whatever the directory copy brought. Same source and
destination: nothing to do. A source host that is down (PROLOG_MIGRATE_UNKNOWN): StorPool only, nothing is
asked of that host. Every step is undone if a later one fails; removing the source
directory is the last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, List, Optional, Sequence, Tuple

from ...runtime import arguments, disks, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.errors import BadInput
from . import _common as common
from . import _migration as migration
from . import _moves as moves
from . import _nvram as uefi
from . import _vmdir as vmdir
from ._migration import VmVolume

if TYPE_CHECKING:
    from ...one import Datastore, Vm
#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION



@dataclass(frozen=True)
class Args:
    """``mv``'s arguments: where the disk or directory is, where it goes, the VM, the datastore."""

    src: Annotated[HostPath, "<src host>:<path>"]
    dst: Annotated[HostPath, "<dst host>:<path>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 4)
        return cls(HostPath.parse(a[0], "source"), HostPath.parse(a[1], "destination"), arguments.vm_id(a[2]),
                   arguments.ds_id(a[3]))


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    src, dst = args.src, args.dst
    if src.host == dst.host and src.path == dst.path:
        ctx.log.info("%s is already where it should be", dst)
        return
    if src.is_disk != dst.is_disk:
        raise BadInput("cannot move %s to %s: one is a disk, the other a directory" % (src, dst))
    with ctx.step("read VM %d" % args.vm_id):
        vm = ctx.one.vm(args.vm_id)
    plan = moves.plan_for(vm)
    with ctx.step("read datastore %d" % args.ds_id):
        datastore = ctx.one.datastore(args.ds_id)
    ctx.use_datastore(datastore)
    if dst.disk_id is not None:
        move_disk(ctx, args, dst.disk_id, vm, plan, datastore)
    else:
        move_directory(ctx, args, vm, plan, datastore)


def move_disk(ctx: Context, args: Args, disk_id: int, vm: Vm, plan: moves.MovePlan, datastore: Datastore) -> None:
    disk = vm.disk(disk_id)
    volume = migration.member(vm, disks.disk_volume(ctx.names, vm.id, disk), datastore.id)
    system_ds = common.system_datastore(ctx, vm, args.dst)
    move_volumes(ctx, args, plan, [volume], system_ds, _clients(ctx, args, vm, plan))


def move_directory(ctx: Context, args: Args, vm: Vm, plan: moves.MovePlan, system_ds: Datastore) -> None:
    src, dst = args.src, args.dst
    own = [v for v in migration.vm_members(ctx, vm, system_ds.id, True) if v.type_tag in ("CNTXT", "NVRAM")]
    clients = _clients(ctx, args, vm, plan) if own else None
    nvram = migration.nvram_member(own)
    nvram_size = uefi.volume_size(ctx, nvram.name) if nvram is not None else None
    files = _copies_files(ctx, src, system_ds)
    skip_files = plan.undeploy and ctx.config.SKIP_UNDEPLOY_SSH
    seen = None
    if files and plan.source_alive and not skip_files:
        seen = vmdir.survey(ctx, src.host, src.path, dst.host, dst.path)
    if nvram is not None and nvram_size is not None and plan.source_alive and plan.detach != "none":
        nvram_size = uefi.save(ctx, src.host, vm, src.vm_dir, nvram.name, nvram_size).size
    if plan.attach:
        vmdir.make(ctx, dst.host, dst.path, common.monitor_marker(system_ds), seen.destination_existed if seen else None)
    moved: List[VmVolume] = []
    if clients is not None:
        moved = move_volumes(ctx, args, plan, own, system_ds, clients)
    remove_source = False
    if files and not plan.source_alive:
        ctx.log.info("source host %s is down: its VM directory %s is left there", src.host, src.path)
    elif files and skip_files:
        remove_source = plan.detach_only and ctx.config.CLEAN_SRC_ON_UNDEPLOY
    elif seen is not None:
        remove_source = vmdir.copy(ctx, src.host, src.path, dst.host, dst.path, seen)
    if nvram is not None and nvram_size is not None and plan.attach and nvram in moved:
        uefi.restore(ctx, dst.host, vm, dst.vm_dir, nvram.name, nvram_size)
    if remove_source:
        vmdir.remove(ctx, src.host, src.path)


@dataclass(frozen=True)
class Clients:
    """StorPool client ids a move needs, all resolved before anything changes."""

    source: Optional[int]  # None: nothing is detached from the source (it is the front-end)
    destination: Optional[int]  # None: nothing is attached (the destination is the front-end)
    earlier: Tuple[int, ...]  # the VM's earlier hosts, whose attachments a resume from undeploy removes


def _clients(ctx: Context, args: Args, vm: Vm, plan: moves.MovePlan) -> Clients:
    source = ctx.client_id(args.src.host) if plan.detach != "none" else None
    destination = ctx.client_id(args.dst.host) if plan.attach else None
    earlier: Tuple[int, ...] = ()
    if plan.detach_others and ctx.config.FORCE_DETACH_OTHER_MV:
        earlier = tuple(common.other_clients(ctx, vm, args.dst.host, "stale attachments on %s are left alone: %s"))
    return Clients(source, destination, earlier)


def move_volumes(ctx: Context, args: Args, plan: moves.MovePlan, volumes: List[VmVolume], system_ds: Datastore,
                 clients: Clients) -> List[VmVolume]:
    """Reassign ``volumes`` as ``plan`` says and point their ``disk.<n>`` on the destination at
    them; returns the volumes that moved (an absent NVRAM is not among them)."""
    src, dst = args.src, args.dst
    changes = moves.changes(plan, volumes, clients.source, clients.destination, clients.earlier)
    names = ", ".join(v.name for v in volumes)
    if plan.attach and plan.detach != "none":
        what = "move %s from %s to %s" % (names, src.host, dst.host)
    elif plan.attach:
        what = "attach %s to %s" % (names, dst.host)
    else:
        what = "detach %s from %s" % (names, src.host if plan.detach == "source" else "all hosts")
    done = migration.moved(migration.apply(ctx, changes, "%s (%s)" % (what, plan.state)))
    if plan.attach:
        migration.link(ctx, dst.host, dst.vm_dir, done, common.monitor_marker(system_ds))
    return done


def _copies_files(ctx: Context, src: HostPath, system_ds: Datastore) -> bool:
    """SP_SYSTEM=ssh on the destination datastore, or on the one the directory comes from."""
    if ctx.config.SP_SYSTEM == "ssh":
        return True
    source_ds: Optional[int] = src.system_ds_id
    if source_ds is None or source_ds == system_ds.id:
        return False
    with ctx.step("read datastore %d" % source_ds):
        datastore = ctx.one.datastore(source_ds)
    return str(ctx.base_config.with_datastore(datastore.template, "datastore %d" % source_ds).SP_SYSTEM) == "ssh"

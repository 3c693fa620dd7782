"""What premigrate, postmigrate and failmigrate share: who calls them, and which volumes.

``<hook> <src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``, the VM
document (base64) on stdin. oned runs the hook of the system datastore's TM; that TM runs
the hooks of the VM's other TMs with its own name as sixth argument (``othertm``):

* no sixth argument: we are the system datastore's TM. Every StorPool volume of the VM
  moves (image disks, volatile disks, context ISO, NVRAM); with ``SP_SYSTEM=ssh`` the VM
  directory is copied (premigrate) and removed from the host left behind (postmigrate,
  failmigrate); the other TMs' hooks are run.
* a sixth argument naming a StorPool TM: our own system TM has already done everything;
  nothing to do (as in the addon).
* any other sixth argument: we are an image TM under another system TM, which owns the
  directory; only the StorPool image disks move.

Both hosts may be one host: OpenNebula 7.2 added live migration to another system datastore,
which it allows only without a change of host, and then calls these hooks with that host as
source and destination, the new datastore's VM directory and id (``migrate_transfer_command``
in src/tm/TransferManager.cc). The VM keeps running there on the same StorPool attachments,
so nothing is attached or detached: premigrate only makes the new directory and its
``disk.<n>`` links; the previous datastore's directory is kept, since the running VM's
definition still names its disk paths until it is next deployed. Two system datastores on
different StorPool clusters are refused: the volumes could not follow.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, List, Optional, Sequence

from ...runtime import arguments
from ...runtime.actioncontext import Context
from ...runtime.disks import is_storpool_tm
from ...runtime.errors import Unsupported
from ...runtime.hostexec import check_host, check_path
from . import _common as common
from . import _migration as migration
from . import _othertm as othertm
from . import _vmdir as vmdir
from ._migration import Change, VmVolume

if TYPE_CHECKING:
    from ...one import Datastore, Vm


@dataclass(frozen=True)
class MigrateArgs:
    """The arguments of the three hooks: ``<src host> <dst host> <vm dir> <vm id> <sys ds id> [<calling TM>]``."""

    src_host: Annotated[str, "<src host>"]
    dst_host: Annotated[str, "<dst host>"]
    vm_dir: Annotated[str, "<vm dir>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<sys ds id>"]
    calling_tm: Annotated[Optional[str], "[<calling TM>]"]  # None: absent or empty

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "MigrateArgs":
        a = arguments.arity(action, argv, 5, 6)
        return cls(check_host(a[0]), check_host(a[1]), check_path(a[2]), arguments.vm_id(a[3]), arguments.ds_id(a[4]),
                   arguments.tm_name(a[5]) if len(a) > 5 and a[5] else None)


@dataclass(frozen=True)
class Migration:
    args: MigrateArgs
    vm: Vm  # as oned sent it
    system_ds: Datastore
    volumes: List[VmVolume]
    system_tm: bool  # we are the system datastore's TM
    copies_directory: bool  # system TM with SP_SYSTEM=ssh

    @property
    def marker(self) -> Optional[str]:
        return common.monitor_marker(self.system_ds) if self.system_tm else None

    @property
    def same_host(self) -> bool:
        """A move to another system datastore on the host where the VM runs (OpenNebula 7.2+)."""
        return self.args.src_host == self.args.dst_host

    def argv(self) -> List[str]:
        a = self.args
        return [a.src_host, a.dst_host, a.vm_dir, str(a.vm_id), str(a.ds_id)]


def prepare(ctx: Context, args: MigrateArgs) -> Optional[Migration]:
    """Read what the hook needs; None when our own system TM already did the work."""
    if args.calling_tm and is_storpool_tm(args.calling_tm):
        ctx.log.info("called by the %s system TM, which moved every StorPool volume already", args.calling_tm)
        return None
    ctx.lock("vm-%d" % args.vm_id)  # two hooks of one VM (a retried premigrate) never interleave
    vm = migration.migrating_vm(ctx, args.vm_id)
    with ctx.step("read datastore %d" % args.ds_id):
        system_ds = ctx.one.datastore(args.ds_id)
    system_tm = args.calling_tm is None
    if system_tm:
        ctx.use_datastore(system_ds)
    volumes = migration.vm_members(ctx, vm, system_ds.id, system_tm)
    copies = system_tm and ctx.config.SP_SYSTEM == "ssh"
    return Migration(args, vm, system_ds, volumes, system_tm, copies)


def previous_dir(m: Migration) -> str:
    """The VM directory in the previous system datastore, beside ``m.args.vm_dir``
    (``<location>/<ds id>/<vm id>``): where a VM moved between datastores on one host still
    runs from until it is next deployed."""
    previous = m.vm.previous_history
    if previous is None:
        return m.args.vm_dir
    location = posixpath.dirname(posixpath.dirname(m.args.vm_dir.rstrip("/")))
    return posixpath.join(location, str(previous.ds_id), str(m.vm.id))


def refuse_another_cluster(ctx: Context, m: Migration) -> None:
    """A move to another system datastore on the same host leaves every volume where it is, so
    the two datastores must use one StorPool cluster: refused before any change otherwise."""
    previous = m.vm.previous_history
    if not (m.same_host and m.system_tm) or previous is None or previous.ds_id == m.system_ds.id:
        return
    with ctx.step("read datastore %d" % previous.ds_id):
        old = ctx.one.datastore(previous.ds_id)
    apis = []
    for datastore in (old, m.system_ds):
        cfg = ctx.base_config.with_datastore(datastore.template, "datastore %d" % datastore.id)
        apis.append("%s:%s" % (cfg.SP_API_HTTP_HOST, cfg.SP_API_HTTP_PORT))
    if apis[0] != apis[1]:
        raise Unsupported("VM %d: system datastores %d and %d use different StorPool clusters (%s, %s); its "
                          "volumes cannot follow a live move between them" % (m.vm.id, old.id, m.system_ds.id,
                                                                              apis[0], apis[1]))


def run_other_tms(ctx: Context, m: Migration, action: str) -> None:
    if m.system_tm:
        othertm.call(ctx, m.vm, action, m.argv(), str(m.system_ds.tm_mad or "storpool"))


def remove_left_behind(ctx: Context, m: Migration, leave_host: str, keep_host: str) -> None:
    """Remove the VM directory on ``leave_host`` after the VM settled on ``keep_host`` (the
    last step). Only when both hosts hold a directory and they are not one directory."""
    if not m.copies_directory:
        return
    path = m.args.vm_dir
    seen = vmdir.survey(ctx, leave_host, path, keep_host, path)
    if seen.same or not seen.source_exists:
        return
    if not seen.destination_existed:
        ctx.log.warning("%s has no %s: %s on %s is kept", keep_host, path, path, leave_host)
        return
    vmdir.remove(ctx, leave_host, path)


def release(ctx: Context, args: MigrateArgs, action: str, source: bool) -> None:
    """postmigrate (``source``: the VM left it) and failmigrate (the destination it never
    reached): detach the VM's volumes from that host's client in one call, run the other
    TMs' hook, and remove the VM directory left there (last)."""
    m = prepare(ctx, args)
    if m is None:
        return
    leave, keep = (m.args.src_host, m.args.dst_host) if source else (m.args.dst_host, m.args.src_host)
    if m.same_host:
        ctx.log.info("VM %d stays on %s (a move between system datastores): its volumes stay attached there",
                     m.vm.id, leave)
        run_other_tms(ctx, m, action)
        return
    client = ctx.client_id(leave)
    migration.apply(ctx, [Change(v, detach=(client,), restore=client) for v in m.volumes],
                    "detach the volumes of VM %d from %s" % (m.vm.id, leave))
    run_other_tms(ctx, m, action)
    remove_left_behind(ctx, m, leave, keep)

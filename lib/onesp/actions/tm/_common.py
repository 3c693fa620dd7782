"""Steps several TM actions share: reading a VM disk once, linking it on a host, and
the few decisions the addon makes the same way in many scripts.

What is here, and who uses it:

``ImageDiskArgs``      the arguments of clone and ln (one signature).
``load_disk``          the VM, the disk at a ``.../disk.N`` path, its volume, the datastore
                       given as argument (applied to the configuration) and the system
                       datastore, each read once (every per-disk action).
``monitor_marker``     what ``<sysds>/.monitor`` must say (only for a non-shared system DS).
``attach_readonly``    whether a READONLY disk is attached ``ro`` (READONLY_MODE).
``link_disk``          attach to the host and point ``disk.N`` at the device, with undo.
``nvram_file``         the file in the VM directory oned names as the domain's UEFI ``<nvram>``.
``disk_tags`` / ``owner_tags``  the tags of a VM disk's volume / the subset proving ownership.
``ensure_clone``       the per-VM volume of a non-persistent or CDROM disk (create or adopt).
``release_other_hosts``  detach volumes from the other hosts this VM has been placed on.
``delete_vm_snapshots``  VMSNAPSHOT_DELETE_ON_TERMINATE, by exact names from the VM document.
``on_host``            run a host step, skipping a host that cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Callable, Dict, Iterable, List, Optional, Sequence

from ...runtime import arguments, attaching, disks, limits, snapshotting, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import FrontEndSource, HostPath
from ...runtime.disks import DiskVolume
from ...runtime.errors import BadInput, Busy, HostError, OnespError
from ...runtime.storpoolerrors import ApiBusy, ApiNotFound

if TYPE_CHECKING:
    from ...one import Datastore, Disk, Vm

#: LCM state CLEANUP_RESUBMIT: the VM is resubmitted and keeps its VM snapshots.
LCM_CLEANUP_RESUBMIT = 15
#: ssh exits with 255 when it cannot reach or log in to the host.
SSH_UNREACHABLE = 255


@dataclass(frozen=True)
class ImageDiskArgs:
    """The arguments of clone and ln: ``<fe>:<SOURCE> <host>:<vm dir>/disk.<n> <vm id> <image ds id>``."""

    image: Annotated[FrontEndSource, "<fe>:<SOURCE>"]
    dst: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<image ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "ImageDiskArgs":
        a = arguments.arity(action, argv, 4)
        return cls(FrontEndSource.parse(a[0]), HostPath.parse(a[1], "destination"), arguments.vm_id(a[2]),
                   arguments.ds_id(a[3]))


@dataclass(frozen=True)
class DiskRef:
    """One VM disk as a per-disk TM action sees it."""

    vm: Vm
    disk: Disk
    volume: DiskVolume
    datastore: Datastore  # given as the action's datastore argument
    system_ds: Datastore  # of the VM directory the path points into

    @property
    def vm_id(self) -> int:
        return int(self.vm.id)

    @property
    def disk_id(self) -> int:
        return int(self.disk.disk_id)


def load_disk(ctx: Context, path: HostPath, vm_id: int, ds_id: int) -> DiskRef:
    """Read what a per-disk action needs; the ``ds_id`` datastore configures the context.

    The system datastore comes from the path (``.../<sysds>/<vm>/disk.N``, what oned
    passes), falling back to the VM's current history record.
    """
    if path.disk_id is None:
        raise BadInput("%s is not a disk path" % path)
    with ctx.step("read VM %d" % vm_id):
        vm = ctx.one.vm(vm_id)
        disk = vm.disk(path.disk_id)
    with ctx.step("read datastore %d" % ds_id):
        datastore = ctx.one.datastore(ds_id)
    ctx.use_datastore(datastore)
    system_ds = system_datastore(ctx, vm, path)
    volume = disks.disk_volume(ctx.names, vm.id, disk)
    return DiskRef(vm, disk, volume, datastore, system_ds)


def system_datastore(ctx: Context, vm: Vm, path: HostPath) -> Datastore:
    """The system datastore of the VM directory ``path`` is in (or of the VM's placement)."""
    ds_id = path.system_ds_id if path.system_ds_id is not None else vm.system_ds_id
    if ds_id is None:
        raise BadInput("cannot tell the system datastore of %s" % path)
    with ctx.step("read datastore %d" % ds_id):
        datastore: Datastore = ctx.one.datastore(ds_id)
    return datastore


def monitor_marker(system_ds: Datastore) -> Optional[str]:
    """The addon writes the system DS's TM_MAD into ``<sysds>/.monitor`` only when that
    datastore is not shared (its hosts then monitor their own VM directories)."""
    if system_ds is not None and system_ds.shared is False and system_ds.tm_mad:
        return str(system_ds.tm_mad)
    return None


def attach_readonly(ctx: Context, readonly: bool) -> bool:
    """READONLY disks (and CDROMs, the context ISO) use READONLY_MODE; rw by default because
    libvirt >= 7 opens even read-only disks for writing."""
    return bool(readonly) and ctx.config.READONLY_MODE.strip().lower() == "ro"


def link_disk(ctx: Context, host: str, volume: str, path: str, *, readonly: bool, system_ds: Datastore,
              attach_undo: bool = True) -> None:
    """Attach ``volume`` to ``host`` and make ``path`` a symlink to its device (both undone on failure)."""
    attaching.link(ctx, host, volume, path, readonly=attach_readonly(ctx, readonly),
                 monitor_marker=monitor_marker(system_ds), attach_undo=attach_undo)


def nvram_file(vm: Vm) -> str:
    """``<vm name>_VARS.fd``: oned writes ``<nvram><system dir>/<vm name>_VARS.fd</nvram>`` for a
    VM with OS/FIRMWARE (LibVirtDriverKVM.cc, 6.10 to 7.4). oned refuses a name with ``/``; a
    name that could not be one file name here is refused too."""
    name = "%s_VARS.fd" % vm.name
    if "/" in name or any(ord(c) < 32 or ord(c) == 127 for c in name) or len(name.encode("utf-8", "replace")) > 255:
        raise BadInput("VM %d: its name %r cannot be a file name in the VM directory" % (vm.id, vm.name))
    return name


def disk_tags(ctx: Context, ref: DiskRef, qos: Optional[str], type_tag: Optional[str] = None) -> Dict[str, str]:
    """virt, nloc, nvm, diskid, type, qc, vc-policy of the volume behind ``ref``."""
    return ctx.tags.vm_disk(ref.vm_id, ref.disk_id, type_tag or ref.volume.type_tag, qos, ref.vm.vc_policy)


def owner_tags(ctx: Context, vm_id: int, disk_id: int) -> Dict[str, str]:
    """The tags that prove a volume was made for this disk of this VM (adoption on re-run)."""
    tags: Dict[str, str] = ctx.tags.owner(vm_id, disk_id)
    return tags


def ensure_clone(ctx: Context, ref: DiskRef, qos: Optional[str]) -> bool:
    """Create the per-VM volume of a non-persistent or CDROM disk from its image volume.

    One VolumeCreate carrying baseOn, the size (only when the disk's SIZE exceeds the
    image's ORIGINAL_SIZE), the template (only with NO_VOLUME_TEMPLATE off; else the clone
    keeps its parent's), every tag and, with SP_DISK_LIMITS, the disk's limits. A volume left
    by an earlier run for the same VM and disk is adopted unchanged. Returns True when it was
    created now.
    """
    volume = ref.volume
    if not volume.per_vm or not volume.base:
        raise BadInput("disk %d of VM %d is not a per-VM clone of an image" % (ref.disk_id, ref.vm_id))
    disk_limits = limits.for_disk(ctx.config, ref.disk)
    size_mb = None
    disk = ref.disk
    if disk.size and disk.original_size is not None and disk.size > disk.original_size and not disk.is_cdrom:
        size_mb = int(disk.size)
    template = None if ctx.config.NO_VOLUME_TEMPLATE else ctx.names.template(ref.datastore.id)
    return volumes.create(ctx, volume.name, base_on=volume.base, size_mb=size_mb, template=template,
                          tags=disk_tags(ctx, ref, qos), owner=owner_tags(ctx, ref.vm_id, ref.disk_id),
                          limits=disk_limits)


def other_hosts(vm: Vm, keep_host: str) -> List[str]:
    """Hosts of the VM's history records other than ``keep_host``, oldest first, once each."""
    seen: List[str] = []
    for record in vm.history:
        if record.hostname != keep_host and record.hostname not in seen:
            seen.append(record.hostname)
    return seen


def other_clients(ctx: Context, vm: Vm, keep_host: str, skipped: str) -> List[int]:
    """Client ids of the hosts of the VM's history other than ``keep_host``, once each. A host
    whose client id is unknown (removed from oned) is skipped, logged as ``skipped % (host, error)``."""
    clients: List[int] = []
    for host in other_hosts(vm, keep_host):
        try:
            client = ctx.client_id(host)
        except OnespError as exc:
            ctx.log.warning(skipped, host, exc)
            continue
        if client not in clients:
            clients.append(client)
    return clients


def check_source(ctx: Context, source: str, ref: DiskRef, volume: Optional[str]) -> None:
    """The TM argument SOURCE must name ``volume``, the image volume of the disk ``ref``."""
    if ctx.names.volume_from_source(source) != volume:
        raise BadInput("SOURCE %s does not match disk %d of VM %d (%s)" % (source, ref.disk_id, ref.vm_id,
                                                                           ref.disk.source))


def release_other_hosts(ctx: Context, vm: Vm, names: Sequence[str], keep_host: str, *, force: bool = False) -> List[int]:
    """Detach ``names`` from every other host this VM has been placed on; returns those client ids.

    Bounded cost instead of the addon's full attachment list: the candidates are the
    hosts of the VM's own history (where its stale attachments come from), resolved to
    client ids, and all volumes go in one VolumesReassignWait call. Without ``force`` a
    device that is open there (a VM still running on that host) makes StorPool refuse,
    and the action fails with a clear line instead of taking the disk away from it; a
    stale, closed attachment is simply removed. A host whose client id is unknown (removed
    from oned) is skipped with a log line.

    There is no undo: what it removes are closed attachments on hosts this VM has left, and
    which of them existed is not known without listing every attachment of the cluster. If
    the action fails later they stay removed — the state a re-run reaches anyway.
    """
    if not names or not other_hosts(vm, keep_host):
        return []
    keep = ctx.client_id(keep_host)
    clients = [c for c in other_clients(ctx, vm, keep_host, "not detaching from %s: %s") if c != keep]
    if not clients:
        return []
    shown = ", ".join(str(c) for c in clients)
    items = [{"volume": name, "detach": clients, "force": force} for name in names]
    with ctx.step("detach %s from other hosts (clients %s)" % (", ".join(names), shown)):
        try:
            _reassign(ctx, items)
        except ApiBusy as exc:
            raise Busy("%s; a VM may still be running there, so it is not taken away: stop it or "
                       "detach the volume by hand" % exc.descr) from exc
    return clients


def _reassign(ctx: Context, items: List[Dict[str, Any]]) -> None:
    """One call for all items; if a volume has vanished, the rest one by one (missing ones skipped)."""
    why = "closed attachments on hosts the VM has left: the point of no return RELEASE"
    try:
        attaching.reassign(ctx, items, no_undo=why)
    except ApiNotFound:
        for item in items:
            try:
                attaching.reassign(ctx, [item], no_undo=why)
            except ApiNotFound:
                ctx.log.info("volume %s is gone, nothing to detach", item["volume"])


def vm_snapshot_names(ctx: Context, vm: Vm, volume: str) -> List[str]:
    """The StorPool names of this VM's VM snapshots of ``volume``, from the VM document."""
    found: List[str] = []
    for snap in vm.vm_snapshots:
        if not snap.hypervisor_id:
            continue
        try:
            snap_id, timestamp = ctx.names.parse_vm_snapshot_id(snap.hypervisor_id)
        except BadInput:
            ctx.log.info("VM %s snapshot %d: %r is not ours, skipped", vm.id, snap.snapshot_id, snap.hypervisor_id)
            continue
        found.append(ctx.names.vm_snapshot(volume, snap_id, timestamp))
    return found


def delete_vm_snapshots(ctx: Context, vm: Vm, volume_names: Iterable[str]) -> int:
    """VMSNAPSHOT_DELETE_ON_TERMINATE: delete the VM snapshots of these volumes (not on CLEANUP_RESUBMIT)."""
    if not ctx.config.VMSNAPSHOT_DELETE_ON_TERMINATE or vm.lcm_state == LCM_CLEANUP_RESUBMIT:
        return 0
    names: List[str] = []
    for volume in volume_names:
        names += vm_snapshot_names(ctx, vm, volume)
    return snapshotting.delete_snapshots(ctx, names) if names else 0


def on_host(ctx: Context, host: str, what: str, fn: Callable[..., Any], *args: Any) -> bool:
    """Run a host step; a host ssh cannot reach is skipped (False) with a warning, any other failure raises."""
    with ctx.step("%s on %s" % (what, host)):
        try:
            fn(*args)
        except HostError as exc:
            if exc.returncode != SSH_UNREACHABLE:
                raise
            ctx.log.warning("host %s unreachable, skipped: %s (%s)", host, what, exc)
            return False
    return True



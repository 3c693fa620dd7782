"""System datastore monitoring: capacity, and the sizes of the VM disks it holds.

Capacity comes from the datastore's StorPool template (``VolumeTemplatesStatus``, the
``stored`` figures StorPool already divides by replication), as the addon computes it.

Disk and snapshot sizes come from one ``VolumesSpace`` and one ``SnapshotsSpace`` call and
one VM pool read, whatever the number of VMs: each StorPool name is matched *exactly* (a
dict keyed by the names ``disks`` derives, and ``naming``'s anchored parser for snapshot
names), so ``one-img-10-snap0`` is never counted for the disk backed by ``one-img-1``. A
VM belongs to this datastore when its *last* history record says so.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Container, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ...runtime import disks
from ...runtime.errors import NotFound

if TYPE_CHECKING:
    from ...one import Vm
    from ...runtime.naming import Names

MIB = 1024 * 1024
#: VM states whose disks live on a host of the datastore: ACTIVE, SUSPENDED, POWEROFF.
MONITORED_STATES = frozenset((3, 5, 8))


@dataclass(frozen=True)
class Capacity:
    used_mb: int
    total_mb: int
    free_mb: int

    def lines(self) -> str:
        return "USED_MB=%d\nTOTAL_MB=%d\nFREE_MB=%d" % (self.used_mb, self.total_mb, self.free_mb)


def capacity(statuses: Iterable[Mapping[str, Any]], template: str, alt_stats: bool) -> Capacity:
    """The capacity of ``template`` from a VolumeTemplatesStatus answer."""
    for status in statuses:
        if status.get("name") != template:
            continue
        stored = status.get("stored") or {}
        total = int(stored.get("capacity") or 0)
        free = int(stored.get("free") or 0)
        if alt_stats:
            internal = stored.get("internal") or {}
            free += int(internal.get("u2") or 0) + int(internal.get("u3") or 0)
        return Capacity((total - free) // MIB, total // MIB, free // MIB)
    raise NotFound("StorPool has no template %s (create it for this datastore)" % template)


def megabytes(size: int) -> int:
    """Whole MiB; a disk holding any data reports at least 1."""
    return max(1, size // MIB) if size > 0 else 0


@dataclass(frozen=True)
class VmReport:
    """What monitord learns about one VM's disks."""

    vm_id: int
    disk_sizes: Tuple[Tuple[int, int], ...]  # (disk id, MB)
    snapshot_sizes: Tuple[Tuple[int, int, int], ...]  # (snapshot id, disk id, MB)
    vm_snapshots: Tuple[Tuple[int, int], ...] = ()  # (VM snapshot id, bytes)

    def payload(self) -> str:
        lines = ["DISK_SIZE=[ID=%d,SIZE=%d]" % item for item in self.disk_sizes]
        lines += ["SNAPSHOT_SIZE=[ID=%d,DISK_ID=%d,SIZE=%d]" % item for item in self.snapshot_sizes]
        lines += ["VMSNAPSHOT=[ID=%d,BYTES=%d]" % item for item in self.vm_snapshots]
        return "\n".join(lines)

    def line(self) -> str:
        encoded = base64.b64encode(self.payload().encode("ascii")).decode("ascii")
        return 'VM=[ID=%d,MONITOR="%s"]' % (self.vm_id, encoded)


def on_datastore(vms: Iterable[Vm], ds_id: int) -> List[Vm]:
    """VMs whose last history record places them on ``ds_id``, in a state where they hold disks."""
    return [vm for vm in vms if vm.state in MONITORED_STATES and vm.current_history is not None
            and vm.current_history.ds_id == ds_id]


def size_key(stored: bool) -> str:
    """The VolumesSpace/SnapshotsSpace field a size is read from: storedSize, or spaceUsed by default."""
    return "storedSize" if stored else "spaceUsed"


def sizes_of(entries: Iterable[Mapping[str, Any]], wanted: Container[str], stored: bool) -> Dict[str, int]:
    """name -> bytes of the VolumesSpace entries named in ``wanted``.

    The answer lists the whole cluster (the API has no filtered call): every other entry
    costs one lookup of its name, and nothing is built for it."""
    key = size_key(stored)
    return {e["name"]: int(e.get(key) or 0) for e in entries if e.get("name") in wanted}


def owners(names: Names, vms: Iterable[Vm]) -> Dict[str, Tuple[int, int]]:
    """StorPool volume name -> (VM id, disk id) of every StorPool disk of ``vms`` (the first
    VM that names a volume keeps it)."""
    owner: Dict[str, Tuple[int, int]] = {}
    for vm in vms:
        for volume in disks.vm_volumes(names, vm, True, include_context=False):
            owner.setdefault(volume.name, (int(vm.id), volume.disk_id))
    return owner


@dataclass(frozen=True)
class SnapshotSizes:
    """What SnapshotsSpace says about the snapshots of the monitored disks."""

    disk: Mapping[int, Sequence[Tuple[int, int, int]]]  # VM id -> (snapshot id, disk id, MB)
    vm: Mapping[int, Mapping[int, int]]  # VM id -> {VM snapshot id: bytes}


def snapshot_sizes(names: Names, entries: Iterable[Mapping[str, Any]], owner: Mapping[str, Tuple[int, int]],
                   stored: bool, vm_snapshots: bool) -> SnapshotSizes:
    """The disk snapshots (and with ``vm_snapshots`` the VM snapshots) of ``owner``'s volumes.

    SnapshotsSpace lists every snapshot of the cluster. Each name is split once at its
    last ``-snap`` and the part before looked up among the volumes ``naming`` allows disk
    snapshots of; only the names that may be VM snapshots (``names.may_be_vm_snapshot``)
    are classified (``names.parse``) — the same names, counted the same way, as
    classifying every one of them."""
    key = size_key(stored)
    bases = snapshot_bases(names, owner)
    disk: Dict[int, List[Tuple[int, int, int]]] = {}
    vm: Dict[int, Dict[int, int]] = {}
    for entry in entries:
        name = entry.get("name") or ""
        split = names.split_disk_snapshot(name)
        if split is not None and split[0] in bases:
            vm_id, disk_id = owner[split[0]]
            disk.setdefault(vm_id, []).append((split[1], disk_id, megabytes(int(entry.get(key) or 0))))
            continue
        if not vm_snapshots or not names.may_be_vm_snapshot(name):
            continue
        parsed = names.parse(name)
        if parsed is None or parsed.kind != "vm_snapshot" or parsed.snap_id is None or parsed.volume is None \
                or parsed.volume not in owner:
            continue
        totals = vm.setdefault(owner[parsed.volume][0], {})
        totals[parsed.snap_id] = totals.get(parsed.snap_id, 0) + int(entry.get(key) or 0)
    return SnapshotSizes(disk, vm)


def reports(vm_ids: Sequence[int], owner: Mapping[str, Tuple[int, int]], volume_sizes: Mapping[str, int],
            snapshots: SnapshotSizes) -> List[VmReport]:
    """One report per VM (in the order of ``vm_ids``) with at least one StorPool disk that StorPool knows."""
    sizes: Dict[int, Set[Tuple[int, int]]] = {}
    for name, (vm_id, disk_id) in owner.items():
        if name in volume_sizes:
            sizes.setdefault(vm_id, set()).add((disk_id, megabytes(volume_sizes[name])))
    out: List[VmReport] = []
    for vm_id in vm_ids:
        if vm_id not in sizes:
            continue
        out.append(VmReport(vm_id, tuple(sorted(sizes[vm_id])), tuple(sorted(snapshots.disk.get(vm_id, ()))),
                            tuple(sorted(snapshots.vm.get(vm_id, {}).items()))))
    return out


def snapshot_bases(names: Names, volumes: Iterable[str]) -> FrozenSet[str]:
    """The ``volumes`` whose disk snapshots ``<volume>-snap<N>`` naming recognises.

    Every other ``-snap<N>`` name either is not a disk snapshot or belongs to no volume
    here, so the monitor matches tens of thousands of snapshot names by splitting each
    once, and classifies (``names.parse``) only each volume and the VM snapshots.
    """
    return frozenset(volume for volume in volumes if names.has_disk_snapshots(volume))


#: monitord reads one UDP datagram per message; stay well below the 64 KiB limit.
MAX_MESSAGE = 60000


def messages(lines: Sequence[str], max_size: int = MAX_MESSAGE) -> List[str]:
    """``MONITOR_VM SUCCESS -1 0 <base64(zlib(lines))>`` messages (host -1: datastore-side
    monitoring), as many as needed for each to fit ``max_size`` bytes."""
    if not lines:
        return []
    body = base64.b64encode(zlib.compress("\n".join(lines).encode("ascii"))).decode("ascii")
    message = "MONITOR_VM SUCCESS -1 0 %s" % body
    if len(message) <= max_size or len(lines) == 1:
        return [message]
    half = len(lines) // 2
    return messages(lines[:half], max_size) + messages(lines[half:], max_size)


def monitord_address(conf_text: Optional[str]) -> Tuple[str, int, Optional[str]]:
    """(address, port, public key path) of monitord from monitord.conf, as OpenNebula's
    own ``send_to_monitor`` reads them; defaults 127.0.0.1:4124."""
    address, port, pubkey = "127.0.0.1", 4124, None
    for raw in (conf_text or "").splitlines():
        line = raw.split("#", 1)[0].strip().rstrip(",")
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip().upper(), value.strip().rstrip(",").strip().strip('"')
        if key == "MONITOR_ADDRESS" and value:
            address = "127.0.0.1" if "auto" in value.lower() else value
        elif key == "PORT" and value.isdigit():
            port = int(value)
        elif key == "PUBKEY":
            pubkey = value or None
    return address, port, pubkey

"""StorPool space per VM and per datastore, for ``onesp report``.

For each StorPool volume of this instance that oned accounts for:

provisioned  the volume's size (``size``)
stored       client data written in the volume itself (``storedSize`` of VolumesSpace:
             data it shares with the image it was cloned from is not counted again)
snapshots    client data held in its disk and VM snapshots (``storedSize`` of SnapshotsSpace,
             summed over the snapshots whose name says they belong to it)

Bytes are not multiplied by the replication. A VM's row sums its volumes (image disks on a
storpool TM, and, on a StorPool system datastore, its volatile disks, context ISO and NVRAM);
a datastore's row sums the volumes made with its template: the images in an image datastore
and the per-VM clones of them, the volatile disks, context ISOs and NVRAMs of the VMs on a
system datastore.

Cost: ``one.datastorepool.info``, ``one.imagepool.info`` and ``one.vmpool.infoextended``, then
``VolumesSpace`` and ``SnapshotsSpace`` once per StorPool API endpoint of the datastores —
the same five calls for 2 VMs or 20,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from ..runtime import disks
from ..runtime.actioncontext import Context
from ..runtime.errors import NotFound
from ..runtime.naming import Names

if TYPE_CHECKING:
    from ..one import Datastore, Image, Vm
    from ..runtime.config import Config
    from ..runtime.storpoolanswers import Snapshot, Volume

#: VM state DONE.
_DONE = 6
#: The columns every row carries, in output order.
SIZES = ("provisioned", "stored", "snapshots")


@dataclass
class Row:
    """One VM's or one datastore's totals (bytes)."""

    kind: str  # "vm" or "datastore"
    id: int
    name: str
    volumes: int = 0
    provisioned: int = 0
    stored: int = 0
    snapshots: int = 0

    def add(self, volume: "VolumeUsage") -> None:
        self.volumes += 1
        self.provisioned += volume.provisioned
        self.stored += volume.stored
        self.snapshots += volume.snapshots


@dataclass(frozen=True)
class VolumeUsage:
    name: str
    owner: str
    datastore_id: Optional[int]
    vm_id: Optional[int]
    provisioned: int
    stored: int
    snapshots: int


@dataclass
class Report:
    vms: List[Row] = field(default_factory=list)
    datastores: List[Row] = field(default_factory=list)
    volumes: List[VolumeUsage] = field(default_factory=list)


@dataclass(frozen=True)
class _Owned:
    name: str
    owner: str
    datastore: Optional["Datastore"]  # its StorPool template's datastore: the endpoint that holds it
    vm: Optional["Vm"] = None


def _owned(cfg: "Config", vms: List["Vm"], images: List["Image"], datastores: Dict[int, "Datastore"]) -> List[_Owned]:
    """Every volume oned accounts for, once (a persistent image in use counts for its VM)."""
    names = cfg.names
    found: Dict[str, _Owned] = {}
    for vm in vms:
        system_ds = datastores.get(vm.system_ds_id) if vm.system_ds_id is not None else None
        on_storpool = disks.system_on_storpool(vm, datastores.get)
        by_id = {d.disk_id: d for d in vm.disks}
        for volume in disks.vm_volumes(names, vm, on_storpool):
            disk = by_id.get(volume.disk_id)
            if disk is None or disk.is_volatile:
                home = system_ds
            else:
                home = datastores.get(disk.datastore_id) if disk.datastore_id is not None else None
            found.setdefault(volume.name, _Owned(volume.name, "disk %d of VM %d" % (volume.disk_id, vm.id), home, vm))
        if on_storpool:
            nvram = names.nvram(vm.id)
            found.setdefault(nvram, _Owned(nvram, "NVRAM of VM %d" % vm.id, system_ds, vm))
    for image in images:
        ds = datastores.get(image.datastore_id)
        name = disks.stored_image_volume(names, image, ds)
        if name is None:
            continue
        found.setdefault(name, _Owned(name, "image %d" % image.id, ds))
    return list(found.values())


def _snapshot_totals(names: Names, snapshots: List[Snapshot]) -> Dict[str, int]:
    """Volume name -> stored bytes of its disk and VM snapshots (pending deletes left out);
    ``snapshots``: SnapshotsSpace's JSON objects."""
    totals: Dict[str, int] = {}
    for snap in snapshots:
        name = str(snap.get("name") or "")
        if not name or name.startswith("*") or snap.get("deleted"):
            continue
        parsed = names.parse(name)
        if parsed is None or parsed.volume is None:
            continue
        totals[parsed.volume] = totals.get(parsed.volume, 0) + int(snap.get("storedSize") or 0)
    return totals


def collect(ctx: Context, datastore_id: Optional[int] = None) -> Report:
    """The report, for every storpool datastore or only ``datastore_id``."""
    one = ctx.one
    with ctx.step("read the datastore pool"):
        datastores = {ds.id: ds for ds in one.datastore_pool()}
    if datastore_id is not None and datastore_id not in datastores:
        raise NotFound("oned has no datastore %d" % datastore_id)
    with ctx.step("read the image pool"):
        images = one.image_pool()
    with ctx.step("read the VM pool"):
        vms = [vm for vm in one.vm_pool() if vm.state != _DONE]
    owned = _owned(ctx.base_config, vms, images, datastores)
    space: Dict[Tuple[str, int], Tuple[Dict[str, Volume], Dict[str, int]]] = {}
    report = Report()
    vm_rows: Dict[int, Row] = {}
    ds_rows: Dict[int, Row] = {}
    for item in owned:
        ds = item.datastore
        if datastore_id is not None and (ds is None or ds.id != datastore_id):
            continue
        ctx.config = ctx.base_config if ds is None else ctx.base_config.with_datastore(ds.template,
                                                                                        "datastore %d" % ds.id)
        key = ctx.config.endpoint
        if key not in space:
            with ctx.step("read the space of the volumes at %s:%d" % key):
                volumes = {str(v.get("name")): v for v in ctx.sp.volumes_space()}
            with ctx.step("read the space of the snapshots at %s:%d" % key):
                snapshots = _snapshot_totals(ctx.names, ctx.sp.snapshots_space())
            space[key] = (volumes, snapshots)
        volumes, snapshots = space[key]
        entry = volumes.get(item.name)
        if entry is None:
            continue  # not made yet, or missing (onesp audit reports those)
        usage = VolumeUsage(item.name, item.owner, ds.id if ds is not None else None,
                            item.vm.id if item.vm is not None else None, int(entry.get("size") or 0),
                            int(entry.get("storedSize") or 0), snapshots.get(item.name, 0))
        report.volumes.append(usage)
        if item.vm is not None:
            vm_rows.setdefault(item.vm.id, Row("vm", item.vm.id, item.vm.name)).add(usage)
        if ds is not None:
            ds_rows.setdefault(ds.id, Row("datastore", ds.id, ds.name)).add(usage)
    report.vms = [vm_rows[i] for i in sorted(vm_rows)]
    report.datastores = [ds_rows[i] for i in sorted(ds_rows)]
    report.volumes.sort(key=lambda v: v.name)
    return report

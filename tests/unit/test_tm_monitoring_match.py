"""tm monitor's matching of StorPool snapshot names to VM disks: exact, and cheap at scale.

A system datastore of 1,000 VMs holds tens of thousands of snapshots; the monitor must not
run naming's full classifier on every one of them, yet count exactly what it counted
before: ``<volume>-snap<N>`` of a volume of a VM on the datastore, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

from onesp.actions.tm import _monitoring as monitoring
from onesp.one import Vm, parse_xml
from onesp.runtime.naming import Names
from onesp.sim.oned.builders import history, image_disk, vm_xml

MIB = 1 << 20
CLASSIFIED: List[str] = []


@dataclass(frozen=True)
class CountingNames(Names):
    """naming's rules, counting the names it is asked to classify."""

    def parse(self, name):  # type: ignore[override]
        CLASSIFIED.append(name)
        return super().parse(name)


def vm(vm_id: int, disks: int = 1, **disk_args) -> Vm:
    specs = [image_disk(d, 5, **disk_args) for d in range(disks)]
    return Vm.from_xml(parse_xml(vm_xml(vm_id, disks=specs, context=False,
                                        history=(history("node1", hid=1, ds_id=101),))))


def space(sizes: Dict[str, int]) -> List[Dict[str, object]]:
    """A VolumesSpace/SnapshotsSpace answer (spaceUsed) with these names and sizes."""
    return [{"name": name, "spaceUsed": size, "storedSize": 0} for name, size in sizes.items()]


def reports(names: Names, vms: List[Vm], volume_sizes: Dict[str, int], snapshot_sizes: Dict[str, int],
            vm_snapshots: bool) -> List[monitoring.VmReport]:
    """What tm monitor reports from these VMs and the two space answers."""
    owner = monitoring.owners(names, vms)
    return monitoring.reports([vm.id for vm in vms], owner, monitoring.sizes_of(space(volume_sizes), owner, False),
                              monitoring.snapshot_sizes(names, space(snapshot_sizes), owner, False, vm_snapshots))


def test_only_exact_disk_snapshots_of_the_vms_volumes_are_counted():
    vms = [vm(7, disks=2), vm(8, persistent=True, source="one-ds-100/legacy")]
    volume_sizes = {"one-img-5-7-0": 3 * MIB, "one-img-5-7-1": 0, "legacy": 5 * MIB}
    snapshot_sizes = {
        "one-img-5-7-0-snap0": 2 * MIB,
        "one-img-5-7-1-snap3": 1,  # any data: at least 1 MB
        "one-img-5-7-0-snap1-snap2": MIB,  # a snapshot of a snapshot's name: not a disk snapshot
        "one-img-5-7-0-snapx": MIB,
        "one-img-5-70-0-snap0": MIB,  # another VM's disk
        "one-img-5-7-0-ONESNAP-3-1700000000": 4 * MIB,  # a VM snapshot
        "legacy-snap0": MIB,  # outside the naming convention: never was a disk snapshot
    }
    found = {r.vm_id: r for r in reports(Names(), vms, volume_sizes, snapshot_sizes, True)}
    assert found[7].disk_sizes == ((0, 3), (1, 0))
    assert found[7].snapshot_sizes == ((0, 0, 2), (3, 1, 1))
    assert found[7].vm_snapshots == ((3, 4 * MIB),)
    assert found[8].disk_sizes == ((0, 5),) and found[8].snapshot_sizes == ()
    without = {r.vm_id: r for r in reports(Names(), vms, volume_sizes, snapshot_sizes, False)}
    assert without[7].vm_snapshots == () and without[7].snapshot_sizes == found[7].snapshot_sizes


def test_each_volume_is_classified_once_not_each_snapshot():
    vms = [vm(n, disks=3) for n in range(100, 110)]
    volume_sizes = {"one-img-5-%d-%d" % (n, d): MIB for n in range(100, 110) for d in range(3)}
    snapshot_sizes = {"%s-snap%d" % (volume, s): MIB for volume in volume_sizes for s in range(10)}
    CLASSIFIED.clear()
    found = reports(CountingNames(), vms, volume_sizes, snapshot_sizes, False)
    assert sum(len(r.snapshot_sizes) for r in found) == 300
    # per volume: "<volume>-snap0" and, inside it, the volume; never per snapshot (300 here)
    assert len(CLASSIFIED) <= 2 * len(volume_sizes)


def test_with_vm_snapshots_only_names_holding_the_tag_are_classified():
    """MONITOR_VMSNAPSHOTS: the cluster's other snapshots (here 1,000) cost a split each, not a classification."""
    vms = [vm(7)]
    snapshot_sizes = {"one-img-%d-snap0" % n: MIB for n in range(100000, 101000)}
    snapshot_sizes.update({"one-img-5-7-0-ONESNAP-3-1700000000": 2 * MIB, "one-img-5-7-0-snap1": MIB,
                           "one-img-5-8-0-ONESNAP-3-1700000000": MIB})  # another VM's VM snapshot
    CLASSIFIED.clear()
    [found] = reports(CountingNames(), vms, {"one-img-5-7-0": MIB}, snapshot_sizes, True)
    assert (found.disk_sizes, found.snapshot_sizes, found.vm_snapshots) == (((0, 1),), ((1, 0, 1),), ((3, 2 * MIB),))
    # the volume (and the volume inside its "-snap0" name), then each name holding "-ONESNAP-" and its volume
    assert len(CLASSIFIED) <= 6, len(CLASSIFIED)

"""The TM actions benchmarked per run: documents and volumes as the integration tests set them up.

Every run acts on a VM of its own (``base_id + i``) on node1 (StorPool client 1), with
disk 0 a 16 MiB non-persistent clone of image 5 unless the action needs another kind.
"""

from __future__ import annotations

import os
from typing import List, Optional

from bench.cluster import BASE_IMAGE, MIB, Cluster
from bench.scenario import Scenario
from onesp.sim.stack import Invocation

IMAGE_DS, SYSTEM_DS = "100", "101"
PROLOG_MIGRATE = 8
SOURCE = "fe:one-ds-100/one-img-%d"


def _disk(cluster: Cluster, vm: int, disk: int = 0, host: str = "node1") -> str:
    return cluster.stack.disk_path(host, vm, disk)


def _clients(cluster: Cluster, name: str) -> dict:
    return {a["client"]: a["rights"] for a in cluster.stack.sp.attachments() if a["volume"] == name}


def _volume(cluster: Cluster, name: str) -> Optional[dict]:
    return cluster.stack.sp.volume_or_none(name)


class Clone(Scenario):
    name, per_disk, base_id = "tm clone", True, 1000
    what = "non-persistent disk: clone of image 5 for a new VM, attached to node1, linked"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        vm = self.object_id(i)
        cluster.stack.put_vm(vm, disks=[cluster.stack.b.image_disk(0, BASE_IMAGE, size=16)])
        return Invocation("tm", "clone", (SOURCE % BASE_IMAGE, _disk(cluster, vm), str(vm), IMAGE_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        name = "one-img-%d-%d-0" % (BASE_IMAGE, self.object_id(i))
        return None if _clients(cluster, name) == {1: "rw"} else "%s is not attached to node1" % name


class Ln(Scenario):
    name, per_disk, base_id = "tm ln", True, 2000
    what = "persistent disk: the image's own volume tagged for the VM, attached, linked"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        image = 20000 + i
        s.put_image(image, persistent=True)
        s.put_vm(vm, disks=[s.b.image_disk(0, image, persistent=True, size=16)])
        return Invocation("tm", "ln", (SOURCE % image, _disk(cluster, vm), str(vm), IMAGE_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        volume = _volume(cluster, "one-img-%d" % (20000 + i)) or {}
        return None if volume.get("tags", {}).get("nvm") == str(self.object_id(i)) else "image volume not tagged"


class Mkimage(Scenario):
    name, per_disk, base_id = "tm mkimage", True, 3000
    what = "blank 16 MiB volatile disk (no FS) on the StorPool system datastore"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        s.put_vm(vm, disks=[s.b.volatile_disk(0, 16)])
        return Invocation("tm", "mkimage", ("16", "raw", _disk(cluster, vm), str(vm), SYSTEM_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        name = "one-sys-%d-0-raw" % self.object_id(i)
        return None if _clients(cluster, name) == {1: "rw"} else "%s is not attached" % name


class Mkswap(Scenario):
    name, per_disk, base_id = "tm mkswap", True, 4000
    what = "16 MiB volatile swap disk, mkswap run on the host's device"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        s.put_vm(vm, disks=[s.b.volatile_disk(0, 16, kind="swap")])
        return Invocation("tm", "mkswap", ("16", _disk(cluster, vm), str(vm), SYSTEM_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        with open(cluster.stack.local_disk(self.object_id(i), 0), "rb") as dev:
            page = dev.read(4096)
        return None if page.endswith(b"SWAPSPACE2") else "no swap signature on the disk"


class Context(Scenario):
    name, per_disk, base_id = "tm context", True, 5000
    what = "context ISO (context.sh) built with mkisofs, written with dd to a new volume"

    def setup(self, cluster: Cluster) -> None:
        self.context_sh = cluster.files / "context.sh"
        self.context_sh.write_text("ETH0_IP='192.0.2.7'\nHOSTNAME='bench'\nSSH_PUBLIC_KEY='ssh-ed25519 AAAA bench'\n")

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        s.put_vm(vm, disks=[s.b.image_disk(0, BASE_IMAGE, size=16)])  # context disk = disk 1
        return Invocation("tm", "context", (str(self.context_sh), _disk(cluster, vm, 1), str(vm), SYSTEM_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        with open(cluster.stack.local_disk(self.object_id(i), 1), "rb") as dev:
            dev.seek(32769)
            return None if dev.read(5) == b"CD001" else "no ISO 9660 image on the context disk"


class Delete(Scenario):
    name, per_disk, base_id = "tm delete", True, 6000
    what = "non-persistent disk deleted (detach, DELAY_DELETE snapshot, delete), link removed"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        s.put_vm(vm, disks=[s.b.image_disk(0, BASE_IMAGE, size=16)], state=3, lcm_state=11)
        cluster.disk_volume(vm)
        return Invocation("tm", "delete", (_disk(cluster, vm), str(vm), IMAGE_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        vm = self.object_id(i)
        if _volume(cluster, "one-img-%d-%d-0" % (BASE_IMAGE, vm)) is not None:
            return "the volume is still there"
        return "disk.0 is still there" if os.path.lexists(cluster.stack.local_disk(vm, 0)) else None


class Mv(Scenario):
    name, per_disk, base_id = "tm mv", True, 7000
    what = "cold migration of a disk node1 -> node2 (one VolumesReassignWait), linked on node2"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        b = s.b
        s.put_vm(vm, disks=[b.image_disk(0, BASE_IMAGE, size=16)], lcm_state=PROLOG_MIGRATE,
                 history=(b.history("node1", hid=1), b.history("node2", hid=2)))
        cluster.disk_volume(vm)
        return Invocation("tm", "mv", (_disk(cluster, vm), _disk(cluster, vm, host="node2"), str(vm), IMAGE_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        name = "one-img-%d-%d-0" % (BASE_IMAGE, self.object_id(i))
        return None if _clients(cluster, name) == {2: "rw"} else "%s is not on node2 only" % name


class SnapCreate(Scenario):
    name, per_disk, base_id = "tm snap_create", True, 8000
    what = "disk snapshot 0 of a powered-off VM's disk"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        snaps = [s.b.disk_snapshot(0, active=True)]
        s.put_vm(vm, disks=[s.b.image_disk(0, BASE_IMAGE, size=16, snapshots=snaps)], lcm_state=0, state=8)
        cluster.disk_volume(vm)
        return Invocation("tm", "snap_create", (_disk(cluster, vm), "0", str(vm), IMAGE_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        name = "one-img-%d-%d-0-snap0" % (BASE_IMAGE, self.object_id(i))
        return None if cluster.stack.sp.snapshot_or_none(name) else "%s was not taken" % name


class SnapRevert(Scenario):
    name, per_disk, base_id = "tm snap_revert", True, 9000
    what = "revert a disk to snapshot 0 in place (detach, VolumeRevert, attach)"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        snaps = [s.b.disk_snapshot(0)]
        s.put_vm(vm, disks=[s.b.image_disk(0, BASE_IMAGE, size=16, snapshots=snaps)], lcm_state=0, state=8)
        name = cluster.disk_volume(vm)
        s.sp.volume_snapshot(name, name + "-snap0")
        return Invocation("tm", "snap_revert", (_disk(cluster, vm), "0", str(vm), IMAGE_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        name = "one-img-%d-%d-0" % (BASE_IMAGE, self.object_id(i))
        parent = (_volume(cluster, name) or {}).get("parentName")
        if parent != name + "-snap0":
            return "%s is not based on its snapshot after the revert (parent %s)" % (name, parent)
        return None if _clients(cluster, name) == {1: "rw"} else "%s is not attached again" % name


class Resize(Scenario):
    name, per_disk, base_id = "tm resize", True, 10000
    what = "grow a disk from 16 to 64 MiB"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, vm = cluster.stack, self.object_id(i)
        s.put_vm(vm, disks=[s.b.image_disk(0, BASE_IMAGE, size=16)])
        cluster.disk_volume(vm)
        return Invocation("tm", "resize", (_disk(cluster, vm), "64", str(vm), IMAGE_DS))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        size = (_volume(cluster, "one-img-%d-%d-0" % (BASE_IMAGE, self.object_id(i))) or {}).get("size")
        return None if size == 64 * MIB else "size is %s" % size


class TmMonitor(Scenario):
    name, per_disk, per_object, base_id = "tm monitor", False, False, 11000
    what = "system datastore capacity + disk sizes of its 10 VMs (1 disk each) sent to monitord"
    vms = 10

    def setup(self, cluster: Cluster) -> None:
        s = cluster.stack
        for vm in range(self.base_id, self.base_id + self.vms):
            s.put_vm(vm, disks=[s.b.image_disk(0, BASE_IMAGE, size=16)])
            cluster.disk_volume(vm, attach=None, link=False)
        self.stdin = s.ds_action(s.system_ds_xml, monitor_vm_disks=True, datastore_location=str(s.ds_location))

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        cluster.monitord.take()
        return Invocation("tm", "monitor", (SYSTEM_DS,), stdin=self.stdin)

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        return None if stdout.startswith("USED_MB=") else "no capacity in %r" % stdout[:80]


def scenarios() -> List[Scenario]:
    return [Clone(), Ln(), Mkimage(), Mkswap(), Context(), Delete(), Mv(), SnapCreate(), SnapRevert(), Resize(),
            TmMonitor()]

"""The DS actions benchmarked per run: import, remove, stat, monitor on the image datastore 100."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import List, Optional

from bench.cluster import MIB, Cluster
from bench.scenario import Scenario
from onesp.sim.stack import Invocation

#: The small raw image ds cp and ds stat read: 1 MiB of data, 2 MiB of zeros, a 4 KiB tail.
SMALL_IMAGE_BYTES = 3 * MIB + 4096


def small_image(folder: Path) -> Path:
    path = folder / "small.raw"
    if not path.exists():
        noise = random.Random(7)
        data = bytes(noise.getrandbits(8) for _ in range(4096)) * 256
        path.write_bytes(data + bytes(2 * MIB) + b"tail" * 1024)
    return path


class DsCp(Scenario):
    name, base_id = "ds cp", 30000
    what = "import a 3 MiB raw image file (bridge node1/node2: streamed with dd), staging volume renamed"

    def setup(self, cluster: Cluster) -> None:
        self.path = small_image(cluster.files)

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, image = cluster.stack, self.object_id(i)
        xml = s.b.image_xml(image, source="", path=str(self.path), state=4, size=4)
        s.oned.put("image", xml)
        return Invocation("ds", "cp", (str(image),), stdin=s.ds_action(image_xml=xml))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        expected = "one-ds-100/one-img-%d" % self.object_id(i)
        if not stdout.startswith(expected):
            return "printed %r" % stdout[:80]
        volume = cluster.stack.sp.volume_or_none("one-img-%d" % self.object_id(i))
        return None if volume and volume["size"] == 4 * MIB else "one-img-%d is missing" % self.object_id(i)


class DsRm(Scenario):
    name, base_id = "ds rm", 40000
    what = "remove an image volume and its one snapshot (DELAY_DELETE snapshot kept)"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s, image = cluster.stack, self.object_id(i)
        xml = s.put_image(image, snapshots=[s.b.disk_snapshot(0)])
        s.sp.volume_snapshot("one-img-%d" % image, "one-img-%d-snap0" % image)
        return Invocation("ds", "rm", (str(image),), stdin=s.ds_action(image_xml=xml))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        sp, name = cluster.stack.sp, "one-img-%d" % self.object_id(i)
        if sp.volume_or_none(name) is not None or sp.snapshot_or_none(name + "-snap0") is not None:
            return "%s or its snapshot is still there" % name
        return None


class DsStat(Scenario):
    name, base_id = "ds stat", 50000
    what = "size of the 3 MiB raw image file (qemu-img info)"

    def setup(self, cluster: Cluster) -> None:
        self.path = small_image(cluster.files)

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        s = cluster.stack
        return Invocation("ds", "stat", (str(self.object_id(i)),), stdin=s.ds_action(image_path=str(self.path)))

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        expected = -(-os.path.getsize(self.path) // MIB)
        return None if stdout.strip() == str(expected) else "printed %r, expected %d" % (stdout[:40], expected)


class DsMonitor(Scenario):
    name, per_object, base_id = "ds monitor", False, 0
    what = "image datastore capacity from its template's status"

    def prepare(self, cluster: Cluster, i: int) -> Invocation:
        return Invocation("ds", "monitor", ("100",), stdin=cluster.stack.ds_action())

    def check(self, cluster: Cluster, i: int, stdout: str) -> Optional[str]:
        return None if stdout.startswith("USED_MB=") else "printed %r" % stdout[:80]


def scenarios() -> List[Scenario]:
    return [DsCp(), DsRm(), DsStat(), DsMonitor()]

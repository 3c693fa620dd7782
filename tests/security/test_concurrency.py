"""Actions run at the same time, as oned runs them for many VMs at once.

Each test launches the real executables as concurrent subprocesses against one emulator
and checks: every run succeeds (nothing here is a failure a user would expect), the set of
volumes and snapshots afterwards is exactly the expected one (no leak, no wrong volume
deleted), attachments and symlinks are exact, and the bytes are where they belong.
"""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Sequence, Tuple

MIB = 1024 * 1024
TAGS = {"virt": "one", "nloc": "one"}


def at_once(jobs: Sequence[Callable[[], Any]]) -> List[Any]:
    """Start every job at the same time (one thread each, each running one subprocess)."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def test_32_clones_of_one_image_at_once(stack):
    stack.put_image(5, data=b"golden image bytes")
    vms = list(range(100, 132))
    for vm in vms:
        stack.put_vm(vm, disks=[stack.b.image_disk(0, 5, size=32, original_size=16)])
    results = at_once([
        (lambda vm=vm: stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", vm, 0), str(vm), "100"))
        for vm in vms])
    assert [r.code for r in results] == [0] * 32, [str(r) for r in results if not r.ok]
    assert [r.stderr for r in results] == [""] * 32
    assert stack.volume_names() == sorted(["one-img-5"] + ["one-img-5-%d-0" % vm for vm in vms])
    assert stack.snapshot_names() == []
    assert sorted((a["volume"], a["client"], a["rights"]) for a in stack.attachments()) == \
        sorted(("one-img-5-%d-0" % vm, 1, "rw") for vm in vms)
    for vm in vms:
        name = "one-img-5-%d-0" % vm
        volume = stack.volume(name)
        assert volume["size"] == 32 * MIB
        assert volume["tags"] == dict(TAGS, nvm=str(vm), diskid="0", type="NPERS")
        link = stack.local_disk(vm, 0)
        assert os.readlink(link) == str(stack.dev_dir / name)
        with open(link, "rb") as dev:
            assert dev.read(18) == b"golden image bytes"
    assert stack.volume("one-img-5")["tags"] == TAGS


#: VMs 1 and 10-19, each with disks 1 and 10-19: every name is a prefix of, or prefixed by, others.
PREFIX_VMS = [1] + list(range(10, 20))
PREFIX_DISKS = [1] + list(range(10, 20))
#: 16 disks deleted at once, chosen so each has neighbours whose names start the same.
DELETED = [(1, 1), (1, 10), (1, 12), (1, 19), (10, 1), (10, 11), (11, 1), (11, 10), (12, 1), (13, 13), (14, 1),
           (15, 1), (16, 16), (17, 1), (18, 1), (19, 1)]


def volume_of(vm: int, disk: int) -> str:
    """Even disks are volatile (system datastore), the others non-persistent copies of image 5."""
    return "one-sys-%d-%d-raw" % (vm, disk) if disk % 2 == 0 else "one-img-5-%d-%d" % (vm, disk)


def prefix_world(stack: Any) -> None:
    """121 disks made directly in the emulator as clone/mkimage leave them, each holding its own name."""
    b = stack.b
    stack.put_image(5)
    for vm in PREFIX_VMS:
        disks = [b.volatile_disk(d, 16) if d % 2 == 0 else b.image_disk(d, 5, size=16) for d in PREFIX_DISKS]
        stack.put_vm(vm, disks=disks, context=False)
        for d in PREFIX_DISKS:
            name = volume_of(vm, d)
            tags = dict(TAGS, nvm=str(vm), diskid=str(d), type="VOL" if d % 2 == 0 else "NPERS")
            if d % 2 == 0:
                stack.sp.volume_create(name, size=16 * MIB, template="one-ds-101", tags=tags)
            else:
                stack.sp.volume_create(name, base_on="one-img-5", tags=tags)
            stack.write_volume(name, name.encode())
            stack.sp.attach(name, 1)
            link = stack.local_disk(vm, d)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(str(stack.dev_dir / name), link)


def test_16_deletes_of_disks_whose_names_share_prefixes(stack):
    prefix_world(stack)
    results = at_once([
        (lambda vm=vm, d=d: stack.tm("delete", stack.disk_path("node1", vm, d), str(vm), "101" if d % 2 == 0 else "100"))
        for vm, d in DELETED])
    assert [r.code for r in results] == [0] * 16, [str(r) for r in results if not r.ok]
    kept = sorted(volume_of(vm, d) for vm in PREFIX_VMS for d in PREFIX_DISKS if (vm, d) not in DELETED)
    assert stack.volume_names() == sorted(["one-img-5"] + kept)
    assert sorted((a["volume"], a["client"]) for a in stack.attachments()) == [(name, 1) for name in kept]
    for vm in PREFIX_VMS:
        for d in PREFIX_DISKS:
            assert os.path.lexists(stack.local_disk(vm, d)) == ((vm, d) not in DELETED), (vm, d)
    # Each deleted volume left exactly one delayed-delete snapshot, of its own bytes and VM.
    snapshots = stack.state()["snapshots"]
    assert sorted(name.split("@")[0] for name in snapshots) == sorted(volume_of(vm, d) for vm, d in DELETED)
    for name, snapshot in snapshots.items():
        origin = name.split("@")[0]
        assert snapshot["targetDeleteDate"], name
        assert snapshot["tags"]["nvm"] == origin.split("-")[2 if origin.startswith("one-sys") else 3]
        assert stack.read_volume(name, len(origin), snapshot=True) == origin.encode()
    for name in kept:
        assert stack.read_volume(name, len(name)) == name.encode()


def running_vm(stack: Any) -> Tuple[bytes, Dict[str, str]]:
    """VM 7 live on node1 (private host directories), about to move to node2; its document and disks."""
    b = stack.b
    stack.private_hosts()
    stack.put_image(5, data=b"boot")
    stack.put_image(6, persistent=True)
    xml = stack.put_vm(7, disks=[b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16),
                                 b.volatile_disk(2, 16)], lcm_state=4, context={"DISK_ID": "3"},
                       history=(b.history("node1", hid=1), b.history("node2", hid=2)))
    disks = {"disk.0": "one-img-5-7-0", "disk.1": "one-img-6", "disk.2": "one-sys-7-2-raw", "disk.3": "one-sys-7-3-iso"}
    vm_tags = dict(TAGS, nvm="7")
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=dict(vm_tags, diskid="0", type="NPERS"))
    stack.sp.volume_create("one-sys-7-2-raw", size=16 * MIB, tags=dict(vm_tags, diskid="2", type="VOL"))
    stack.sp.volume_create("one-sys-7-3-iso", size=MIB, tags=dict(vm_tags, diskid="3", type="CNTXT"))
    vm_dir = stack.host_root("node1") / "101" / "7"
    vm_dir.mkdir(parents=True)
    for link, name in disks.items():
        stack.sp.attach(name, 1)
        os.symlink(str(stack.dev_dir / name), vm_dir / link)
        (vm_dir / (link + ".monitor")).write_text("storpool\n")
    (vm_dir / "deployment.0").write_bytes(b"<domain>vm 7</domain>")
    return base64.b64encode(xml.encode()), disks


def test_two_premigrates_of_one_vm_at_once(stack):
    document, disks = running_vm(stack)
    volumes_before = stack.volume_names()

    def premigrate() -> Any:
        return stack.tm("premigrate", "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", stdin=document)

    results = at_once([premigrate, premigrate])
    assert [r.code for r in results] == [0, 0], [str(r) for r in results]
    assert stack.volume_names() == volumes_before
    assert stack.snapshot_names() == []
    assert sorted((a["volume"], a["client"], a["rights"]) for a in stack.attachments()) == \
        sorted((name, client, "rw") for name in disks.values() for client in (1, 2))
    node1, node2 = (stack.host_root(h) / "101" / "7" for h in ("node1", "node2"))
    expected = sorted(list(disks) + [link + ".monitor" for link in disks] + ["deployment.0"])
    assert sorted(p.name for p in node1.iterdir()) == expected
    assert sorted(p.name for p in node2.iterdir()) == expected  # nothing half-written, no temporary names
    for link, name in disks.items():
        assert os.readlink(node2 / link) == str(stack.dev_dir / name)
    assert (node2 / "deployment.0").read_bytes() == b"<domain>vm 7</domain>"

"""``onesp demo``: one VM's whole life on the embedded StorPool emulator, driven as oned drives it.

Every step runs the real action executables (argv, stdin, environment exactly as oned
gives them), then checks the result in StorPool and on the "hosts" (bytes, attachments,
names), and prints one line: the step, its outcome, the time it took and the StorPool
calls it made. The demo exits 0 only if every check passed.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TextIO, Tuple

from ..sim.oned.builders import HistorySpec
from ..sim.stack import IMAGE_DS, SYSTEM_DS, Stack

MIB = 1024 * 1024
VM = 42
BOOT_DATA = b"onesp demo boot sector\n" * 16
TAIL_DATA = b"data near the end of the image\n"


class CheckFailed(Exception):
    """A demo step did not produce what it should have."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def private_hosts_supported() -> bool:
    """Separate host views need a private mount namespace (root and unshare)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


class Demo:
    def __init__(self, stack: Stack, out: TextIO) -> None:
        self.stack = stack
        self.out = out
        self.tty = out.isatty()
        self.steps = 0
        self.failed = False
        self.work = stack.root
        self.vm_kwargs: Dict[str, Any] = {}  # keyword arguments of builders.vm_xml, changed step by step
        self.calls = 0

    # -- running -------------------------------------------------------------------------------
    def step(self, title: str, body: Callable[[], str]) -> bool:
        self.steps += 1
        label = "%2d. %s" % (self.steps, title)
        if self.tty:
            self.out.write("%-44s ...\r" % label)
            self.out.flush()
        self.calls = 0
        started = time.perf_counter()
        try:
            detail, outcome = body(), "ok"
        except CheckFailed as exc:
            detail, outcome = str(exc), "FAIL"
            self.failed = True
        elapsed = (time.perf_counter() - started) * 1000
        self.out.write("%-44s %-4s %6.0f ms %3d calls  %s\n" % (label, outcome, elapsed, self.calls, detail))
        self.out.flush()
        return not self.failed

    def action(self, kind: str, name: str, *argv: str, stdin: bytes = b"") -> str:
        """Run one executable as oned does; counts the StorPool calls it makes (checks are not counted)."""
        before = sum(self.stack.ctl.counts().values())
        result = self.stack.run(kind, name, *argv, stdin=stdin)
        self.calls += sum(self.stack.ctl.counts().values()) - before
        check(result.ok, "%s %s failed: %s" % (kind, name, (result.error_lines or [result.stderr.strip()])[0]))
        return result.stdout.strip()

    # -- documents ---------------------------------------------------------------------------------
    def put_vm(self, **changes: Any) -> str:
        self.vm_kwargs.update(changes)
        return self.stack.put_vm(VM, **self.vm_kwargs)

    def vm_b64(self) -> bytes:
        return base64.b64encode(self.put_vm().encode())

    def disk(self, n: int) -> str:
        return self.stack.disk_path(self.host, VM, n)

    @property
    def host(self) -> str:
        current: HistorySpec = self.vm_kwargs["history"][-1]
        return current.hostname

    def local_disk(self, n: int) -> Path:
        return self.stack.local_disk(VM, n, host=self.host)

    # -- the scenario ------------------------------------------------------------------------------
    def run(self) -> bool:
        s, b = self.stack, self.stack.b
        steps: List[Tuple[str, Callable[[], str]]] = [
            ("make a qcow2 image with qemu-img", self.make_image),
            ("import it (ds stat, ds cp)", self.import_image),
            ("create a persistent datablock (ds mkfs)", self.make_datablock),
            ("deploy: non-persistent disk (tm clone)", lambda: self.deploy("clone", 0)),
            ("deploy: persistent disk (tm ln)", lambda: self.deploy("ln", 1)),
            ("deploy: volatile disk (tm mkimage)", self.deploy_volatile),
            ("deploy: context ISO (tm context)", self.deploy_context),
            ("write data through disk.0", self.write_data),
            ("disk snapshot, overwrite, revert", self.snapshot_and_revert),
            ("live-migrate node1 -> node2", self.migrate),
            ("resize disk.0 to 128 MB (tm resize)", self.resize),
            ("VM snapshot (vmm snapshot_create)", self.vm_snapshot),
            ("save disk.0 as a new image (mkfs + cpds)", self.save_as),
            ("terminate (tm mvds, tm delete)", self.terminate),
            ("delete the images (ds rm)", self.delete_images),
            ("audit: no orphans left", self.audit),
        ]
        s.image_ds_xml = s.put_datastore(IMAGE_DS, kind="IMAGE", template={"SAFE_DIRS": "/var/tmp %s" % self.work})
        s.oned.put("image", b.image_xml(10, name="demo-os", path=str(self.work / "demo.qcow2"), source="",
                                        format="qcow2", size=64, state=4))
        self.vm_kwargs = {"disks": [], "context": False,
                          "history": (b.history("node1", hid=1, ds_id=SYSTEM_DS),)}
        for title, body in steps:
            if not self.step(title, body):
                break
        self.out.write("\n%s: %d steps, StorPool emulator at %s:%s\n" % (
            "FAILED" if self.failed else "all checks passed", self.steps, s.env["SP_API_HTTP_HOST"],
            s.env["SP_API_HTTP_PORT"]))
        return not self.failed

    def make_image(self) -> str:
        raw = self.work / "demo.raw"
        with open(raw, "wb") as handle:
            handle.truncate(64 * MIB)
            handle.write(BOOT_DATA)
            handle.seek(60 * MIB)
            handle.write(TAIL_DATA)
        qcow2 = self.work / "demo.qcow2"
        proc = subprocess.run([os.environ.get("ONESP_QEMU_IMG", "qemu-img"), "convert", "-f", "raw", "-O", "qcow2",
                               str(raw), str(qcow2)], capture_output=True)
        check(proc.returncode == 0, "qemu-img convert failed: %s" % proc.stderr.decode().strip())
        return "%s: 64 MiB virtual, %d KiB on disk" % (qcow2.name, qcow2.stat().st_size // 1024)

    def import_image(self) -> str:
        s, b = self.stack, self.stack.b
        image = b.image_xml(10, name="demo-os", path=str(self.work / "demo.qcow2"), source="", format="qcow2",
                            size=64, state=4)
        size = self.action("ds", "stat", "10", stdin=s.ds_action(image_xml=b.image_xml(
            10, path=str(self.work / "demo.qcow2"), source="", size=0)))
        check(size == "64", "ds stat said %r MB, expected 64" % size)
        out = self.action("ds", "cp", "10", stdin=s.ds_action(image_xml=image))
        check(out == "one-ds-%d/one-img-10 raw" % IMAGE_DS, "ds cp printed %r" % out)
        s.put_image(10, create_volume=False, name="demo-os", size_mb=64)
        check(s.read_volume("one-img-10", len(BOOT_DATA)) == BOOT_DATA, "image bytes at 0 differ")
        check(s.read_volume("one-img-10", len(TAIL_DATA), 60 * MIB) == TAIL_DATA, "image bytes at 60 MiB differ")
        return "%s; qcow2 converted, bytes identical" % out

    def make_datablock(self) -> str:
        s, b = self.stack, self.stack.b
        image = b.image_xml(11, name="demo-data", type="DATABLOCK", persistent=True, source="", format="raw",
                            size=32, state=4)
        out = self.action("ds", "mkfs", "11", stdin=s.ds_action(image_xml=image))
        check(out == "one-ds-%d/one-img-11" % IMAGE_DS, "ds mkfs printed %r" % out)
        s.put_image(11, create_volume=False, name="demo-data", type="DATABLOCK", persistent=True, size_mb=32)
        check(s.volume("one-img-11")["size"] == 32 * MIB, "one-img-11 is not 32 MiB")
        return out

    def deploy(self, action: str, n: int) -> str:
        b = self.stack.b
        disks = list(self.vm_kwargs["disks"])
        if action == "clone":
            disks.append(b.image_disk(0, 10, size=64, original_size=64))
        else:
            disks.append(b.image_disk(1, 11, persistent=True, size=32, original_size=32, type="DATABLOCK"))
        self.put_vm(disks=disks)
        self.action("tm", action, "frontend:one-ds-%d/one-img-%d" % (IMAGE_DS, 10 if n == 0 else 11), self.disk(n),
                    str(VM), str(IMAGE_DS))
        volume = "one-img-10-%d-0" % VM if n == 0 else "one-img-11"
        return self.linked(n, volume)

    def linked(self, n: int, volume: str) -> str:
        link = self.local_disk(n)
        check(os.readlink(link) == str(self.stack.dev_dir / volume), "disk.%d does not point at %s" % (n, volume))
        clients = self.stack.clients_of(volume)
        check(clients == {1: "rw"} or clients == {2: "rw"}, "%s attachments: %r" % (volume, clients))
        return "disk.%d -> %s, attached to client %s" % (n, volume, ",".join(str(c) for c in clients))

    def deploy_volatile(self) -> str:
        disks = list(self.vm_kwargs["disks"]) + [self.stack.b.volatile_disk(2, 16)]
        self.put_vm(disks=disks)
        self.action("tm", "mkimage", "16", "raw", self.disk(2), str(VM), str(SYSTEM_DS))
        return self.linked(2, "one-sys-%d-2-raw" % VM)

    def deploy_context(self) -> str:
        self.put_vm(context={"DISK_ID": "3", "TARGET": "hdd", "NETWORK": "YES"})
        context_sh = self.work / "context.sh"
        context_sh.write_text("ETH0_IP='192.0.2.42'\nHOSTNAME='demo'\n")
        self.action("tm", "context", str(context_sh), self.disk(3), str(VM), str(SYSTEM_DS))
        volume = "one-sys-%d-3-iso" % VM
        head = self.stack.read_volume(volume, 6, 32768 + 1)
        check(head == b"CD001\x01", "%s holds no ISO 9660 image" % volume)
        return self.linked(3, volume).replace("attached", "ISO 9660, attached")

    def write_data(self) -> str:
        with open(self.local_disk(0), "r+b") as disk:
            disk.seek(8 * MIB)
            disk.write(b"first version")
        check(self.stack.read_volume("one-img-10-%d-0" % VM, 13, 8 * MIB) == b"first version", "write not visible")
        return "13 bytes at 8 MiB of one-img-10-%d-0, read back through StorPool" % VM

    def snapshot_and_revert(self) -> str:
        b = self.stack.b
        self.action("tm", "snap_create", self.disk(0), "0", str(VM), str(IMAGE_DS))
        disks = list(self.vm_kwargs["disks"])
        disks[0] = b.image_disk(0, 10, size=64, original_size=64, snapshots=[b.disk_snapshot(0, active=True)])
        self.put_vm(disks=disks)
        with open(self.local_disk(0), "r+b") as disk:
            disk.seek(8 * MIB)
            disk.write(b"SECOND VERSION")
        self.action("tm", "snap_revert", self.disk(0), "0", str(VM), str(IMAGE_DS))
        with open(self.local_disk(0), "rb") as disk:
            disk.seek(8 * MIB)
            data = disk.read(13)
        check(data == b"first version", "after revert disk.0 reads %r" % data)
        return "one-img-10-%d-0-snap0 taken, reverted in place: 'first version' is back" % VM

    def migrate(self) -> str:
        b = self.stack.b
        vm_dir = self.stack.vm_dir("node1", VM).split(":", 1)[1]
        history = tuple(self.vm_kwargs["history"]) + (b.history("node2", hid=2, ds_id=SYSTEM_DS),)
        self.put_vm(history=history, lcm_state=4)
        args = ("node1", "node2", vm_dir, str(VM), str(SYSTEM_DS))
        self.action("tm", "premigrate", *args, stdin=self.vm_b64())
        self.action("tm", "postmigrate", *args, stdin=self.vm_b64())
        self.put_vm(lcm_state=3)
        volume = "one-img-10-%d-0" % VM
        check(self.stack.clients_of(volume) == {2: "rw"}, "after migration %s is on %r" % (
            volume, self.stack.clients_of(volume)))
        with open(self.local_disk(0), "rb") as disk:
            disk.seek(8 * MIB)
            check(disk.read(13) == b"first version", "node2's disk.0 does not read the guest's data")
        return "all 4 volumes now only on client 2; node2's disk.0 reads the guest's data"

    def resize(self) -> str:
        disks = list(self.vm_kwargs["disks"])
        self.action("tm", "resize", self.disk(0), "128", str(VM), str(IMAGE_DS))
        self.put_vm(disks=disks)
        size = self.stack.volume("one-img-10-%d-0" % VM)["size"]
        check(size == 128 * MIB, "volume is %d bytes" % size)
        with open(self.local_disk(0), "rb") as disk:
            check(disk.seek(0, 2) == 128 * MIB, "the host does not see 128 MiB")
        return "one-img-10-%d-0 is 128 MiB, seen through node2's disk.0" % VM

    def vm_snapshot(self) -> str:
        s, b = self.stack, self.stack.b
        action = b.vmm_driver_action_xml(self.put_vm(), host=self.host, datastore=s.system_ds_xml)
        out = self.action("vmm", "snapshot_create-storpool", "one-%d" % VM, "0", str(VM), self.host,
                          stdin=base64.b64encode(action.encode()))
        check(out.startswith("ONESNAP-0-"), "snapshot_create printed %r" % out)
        taken = [n for n in s.snapshot_names() if n.endswith("-" + out)]
        check(len(taken) == 3, "expected 3 disk snapshots, found %r" % taken)
        self.put_vm(vm_snapshots=[b.vm_snapshot(0, out)])
        return "%s: one group snapshot of disks 0, 1, 2" % out

    def save_as(self) -> str:
        s, b = self.stack, self.stack.b
        image = b.image_xml(12, name="demo-saved", source="", format="save_as", size=128, state=4)
        source = self.action("ds", "mkfs", "12", stdin=s.ds_action(image_xml=image))
        check(source == "one-ds-%d/one-img-12" % IMAGE_DS, "mkfs save_as printed %r" % source)
        self.action("tm", "cpds", self.disk(0), source, "-1", str(VM), str(IMAGE_DS))
        s.put_image(12, create_volume=False, name="demo-saved", size_mb=128)
        check(s.read_volume("one-img-12", 13, 8 * MIB) == b"first version", "saved image lacks the guest's data")
        return "one-img-12 holds disk.0's current data"

    def terminate(self) -> str:
        s = self.stack
        self.put_vm(state=3, lcm_state=11)
        self.action("tm", "mvds", self.disk(1), "one-ds-%d/one-img-11" % IMAGE_DS, str(VM), str(IMAGE_DS))
        self.action("tm", "delete", self.disk(0), str(VM), str(IMAGE_DS))
        self.action("tm", "delete", self.disk(2), str(VM), str(SYSTEM_DS))
        self.action("tm", "delete", self.stack.vm_dir(self.host, VM), str(VM), str(SYSTEM_DS))
        left = [n for n in s.volume_names() if n.startswith("one-sys-%d-" % VM) or n.endswith("-%d-0" % VM)]
        check(not left, "volumes of VM %d left: %r" % (VM, left))
        check(not s.attachments(), "attachments left: %r" % s.attachments())
        tags = s.volume("one-img-11").get("tags", {})
        check("nvm" not in tags, "one-img-11 still tagged nvm=%s" % tags.get("nvm"))
        check(not self.local_disk(0).parent.exists(), "the VM directory is still on %s" % self.host)
        self.put_vm(state=6, lcm_state=0)
        return "no volume or attachment of VM %d left; one-img-11 back to its image" % VM

    def delete_images(self) -> str:
        s, b = self.stack, self.stack.b
        for image_id in (10, 11, 12):
            image = b.image_xml(image_id, source="one-ds-%d/one-img-%d" % (IMAGE_DS, image_id), size=64)
            self.action("ds", "rm", str(image_id), stdin=s.ds_action(image_xml=image))
            s.oned.delete("image", image_id)
        left = [n for n in s.volume_names() if n.startswith("one-")]
        check(not left, "volumes left: %r" % left)
        kept = [n for n in s.sp.snapshots() if n.get("targetDeleteDate")]
        return "no volume left; %d delayed-delete snapshots kept for DELAY_DELETE" % len(kept)

    def audit(self) -> str:
        proc = subprocess.run([sys.executable, "-m", "onesp", "audit", "--json"], capture_output=True,
                              env=self.stack.env)
        import json

        check(proc.returncode in (0, 1), "audit failed: %s" % proc.stderr.decode().strip())
        findings = json.loads(proc.stdout)["findings"]
        check(not findings, "audit found: %s" % ", ".join("%s %s" % (f["kind"], f["object"]) for f in findings))
        return "0 orphans, 0 missing, 0 stale attachments"


def run_demo(directory: Optional[Path], keep: bool, out: TextIO) -> int:
    """Run the demo in ``directory`` (a fresh temporary one by default); returns the exit status."""
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="onesp-demo-"))
    stack = Stack.start(root)
    try:
        if private_hosts_supported():
            stack.private_hosts()
        out.write("onesp demo in %s (StorPool emulator and oned stand-in on 127.0.0.1)\n\n" % root)
        ok = Demo(stack, out).run()
        if keep:
            out.write("\nKept running. To continue by hand:\n")
            for key in sorted(stack.env):
                if key.startswith(("SP_", "ONE_", "ONESP_")):
                    out.write("export %s=%s\n" % (key, stack.env[key]))
            out.write("Press Ctrl-C to stop.\n")
            out.flush()
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0 if ok else 1
    finally:
        stack.stop()
        if not directory and not keep:
            shutil.rmtree(root, ignore_errors=True)

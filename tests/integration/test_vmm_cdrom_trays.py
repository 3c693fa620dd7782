"""Persistent CD-ROM trays (T_PERSISTENT_CDROM): deploy.storpool adds them, attach/detach fill and empty them.

Run as oned runs them: deploy.storpool with the local deployment file and the deployment
XML base64 on stdin (``vm.xml``/``ds.xml`` beside it, base64, as oned's local steps write
them); the disk helpers with their argv and the driver action. On "node1" (local host
runner) the stock kvm scripts are fakes that record what they get (the fake deploy makes
its stdin the running domain), and ``virsh`` is a fake on PATH that answers ``dumpxml``
from that domain and applies ``change-media`` to it, so a test sees what a guest would.
The StorPool side runs for real against the emulator (tm ln, tm delete).
"""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from lxml import etree

VM = 9
MIB = 1024 * 1024
ONE_NS = "http://opennebula.org/xmlns/libvirt/1.0"

FAKE_VIRSH = """#!%s
import json, os, sys
from lxml import etree
args = sys.argv[1:]
with open(os.environ["FAKE_VIRSH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
args = args[2:] if args[:1] == ["--connect"] else args
path = os.environ["FAKE_DOMAIN"]
if args[0] == "dumpxml":
    sys.stdout.write(open(path).read())
    sys.exit(0)
if args[0] == "change-media":
    root = etree.parse(path).getroot()
    drive = [d for d in root.iter("disk") if d.find("target") is not None and d.find("target").get("dev") == args[2]]
    if not drive:
        sys.stderr.write("error: No disk found whose source path or target is %%s\\n" %% args[2])
        sys.exit(1)
    disk = drive[0]
    for source in disk.findall("source"):
        disk.remove(source)
    if "--insert" in args:
        kind = "dev" if "--block" in args else "file"
        disk.set("type", "block" if kind == "dev" else "file")
        etree.SubElement(disk, "source", {kind: args[3]})
    open(path, "wb").write(etree.tostring(root))
    sys.exit(0)
sys.stderr.write("error: unexpected virsh %%s\\n" %% args)
sys.exit(1)
"""

FAKE_STOCK = """#!%s
import json, os, sys
name = os.path.basename(sys.argv[0])
data = sys.stdin.read()
with open(os.environ["FAKE_STOCK_LOG"], "a") as log:
    log.write(json.dumps({"script": name, "argv": sys.argv[1:], "stdin": data}) + "\\n")
if name == "deploy":
    open(os.environ["FAKE_DOMAIN"], "w").write(data)
    print("one-%d")
"""


def deployment_xml(vm_dir: str, machine: str = "pc") -> str:
    """A deployment file as oned writes it: a disk, the context CD on hda, the metadata."""
    return ("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
            "\t<name>one-%d</name>\n"
            "\t<os><type arch='x86_64' machine='%s'>hvm</type></os>\n"
            "\t<devices>\n"
            "\t\t<emulator><![CDATA[/usr/bin/qemu-kvm-one]]></emulator>\n"
            "\t\t<disk type='block' device='disk'><source dev='%s/disk.0'/><target dev='vda' bus='virtio'/>"
            "<driver name='qemu' type='raw' cache='none'/></disk>\n"
            "\t\t<disk type='file' device='cdrom'><source file='%s/disk.3'/><target dev='hda' bus='ide'/>"
            "<readonly/><driver name='qemu' type='raw'/></disk>\n"
            "\t</devices>\n"
            "\t<metadata>\n\t\t<one:vm xmlns:one=\"%s\">\n"
            "\t\t\t<one:system_datastore><![CDATA[%s]]></one:system_datastore>\n"
            "\t\t</one:vm>\n\t</metadata>\n"
            "</domain>\n") % (VM, machine, vm_dir, vm_dir, ONE_NS, vm_dir)


class Node:
    """The fake virsh and stock scripts of node1, and the front-end's VM directory."""

    def __init__(self, stack: Any, root: Path) -> None:
        self.stack = stack
        self.bin = root / "bin"
        self.bin.mkdir()
        virsh = self.bin / "virsh"
        virsh.write_text(FAKE_VIRSH % sys.executable)
        virsh.chmod(virsh.stat().st_mode | stat.S_IXUSR)
        self.remote = root / "remote"
        kvm = self.remote / "vmm" / "kvm"
        kvm.mkdir(parents=True)
        for name in ("deploy", "attach_disk", "detach_disk"):
            script = kvm / name
            script.write_text(FAKE_STOCK % (sys.executable, VM))
            script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self.domain = root / "domain.xml"
        self.virsh_log = root / "virsh.log"
        self.stock_log = root / "stock.log"
        self.front = root / "vms" / str(VM)
        self.front.mkdir(parents=True)
        self.vm_dir = "%s/101/%d" % (stack.ds_location, VM)

    def env(self, **settings: str) -> Dict[str, str]:
        env = {"PATH": "%s:%s" % (self.bin, self.stack.env["PATH"]), "FAKE_VIRSH_LOG": str(self.virsh_log),
               "FAKE_STOCK_LOG": str(self.stock_log), "FAKE_DOMAIN": str(self.domain),
               "ONESP_SCRIPTS_REMOTE_DIR": str(self.remote)}
        env.update({"ONESP_" + key: value for key, value in settings.items()})
        return env

    def virsh(self) -> List[List[str]]:
        lines = self.virsh_log.read_text().splitlines() if self.virsh_log.exists() else []
        return [json.loads(line)[2:] for line in lines]

    def stock(self) -> List[Dict[str, Any]]:
        lines = self.stock_log.read_text().splitlines() if self.stock_log.exists() else []
        return [json.loads(line) for line in lines]

    def reset(self) -> None:
        for log in (self.virsh_log, self.stock_log):
            if log.exists():
                log.unlink()

    def cdroms(self) -> Dict[str, Optional[str]]:
        """target -> media path (None: empty) of the running domain's CD-ROM drives."""
        root = etree.parse(str(self.domain)).getroot()
        found: Dict[str, Optional[str]] = {}
        for disk in root.iterfind("devices/disk[@device='cdrom']"):
            source = disk.find("source")
            found[disk.find("target").get("dev")] = (source.get("dev") or source.get("file")) if source is not None else None
        return found

    def running(self, trays: int) -> None:
        """The domain as running after a deploy that made ``trays`` empty trays (hdb, hdc, ...)."""
        root = etree.fromstring(deployment_xml(self.vm_dir).encode())
        devices = root.find("devices")
        for index in range(trays):
            tray = etree.SubElement(devices, "disk", type="block", device="cdrom")
            etree.SubElement(tray, "target", dev="hd" + "bcd"[index], bus="ide")
            etree.SubElement(tray, "readonly")
        self.domain.write_bytes(etree.tostring(root))

    # -- oned's side ------------------------------------------------------------------------------
    def put_vm(self, disks: Any, user_template: Optional[Dict[str, str]] = None) -> str:
        return self.stack.put_vm(VM, disks=disks, user_template=user_template or {})

    def deploy(self, vm_xml: str, machine: str = "pc", **settings: str) -> Any:
        """deploy.storpool as one_vmm_exec runs a local deploy (vm.xml and ds.xml written beside, base64)."""
        deployment = self.front / "deployment.0"
        text = deployment_xml(self.vm_dir, machine)
        deployment.write_text(text)
        (self.front / "vm.xml").write_bytes(base64.b64encode(vm_xml.encode()))
        (self.front / "ds.xml").write_bytes(base64.b64encode(self.stack.system_ds_xml.encode()))
        return self.stack.vmm("deploy.storpool", str(deployment), "node1", str(VM), "node1",
                              stdin=base64.b64encode(text.encode()), env=self.env(**settings))

    def hotplug(self, action: str, vm_xml: str, disk_id: int, target: str, **settings: str) -> Any:
        message = base64.b64encode(self.stack.b.vmm_driver_action_xml(
            vm_xml, host="node1", datastore=self.stack.system_ds_xml,
            disk_target_path="%s/disk.%d" % (self.vm_dir, disk_id)).encode()).decode()
        argv = ["one-%d" % VM, "%s/disk.%d" % (self.vm_dir, disk_id), target, str(disk_id)]
        if action == "attach_disk":
            argv.append(message)
        return self.stack.vmm("%s.storpool" % action, *argv, str(VM), "node1", stdin=message.encode(),
                              env=self.env(**settings))

    def ln(self, image: int, disk_id: int) -> None:
        r = self.stack.tm("ln", "fe:one-ds-100/one-img-%d" % image, self.stack.disk_path("node1", VM, disk_id), str(VM),
                          "100")
        assert r.ok, r

    def delete(self, disk_id: int) -> None:
        r = self.stack.tm("delete", self.stack.disk_path("node1", VM, disk_id), str(VM), "100")
        assert r.ok, r


@pytest.fixture
def node(stack: Any, tmp_path: Path) -> Node:
    (stack.ds_location / "101" / str(VM)).mkdir(parents=True, exist_ok=True)
    return Node(stack, tmp_path)


def cdrom(stack: Any, disk_id: int, image: int, target: str, attaching: bool = False) -> Any:
    return stack.b.cdrom_disk(disk_id, image, size=16, target=target, extra={"ATTACH": "YES"} if attaching else None)


def base_disks(stack: Any) -> List[Any]:
    return [stack.b.image_disk(0, 5, size=16)]


# -- deploy ----------------------------------------------------------------------------------------


def test_deploy_adds_empty_trays_and_hands_the_host_what_a_remote_deploy_gets(stack, node):
    vm_xml = node.put_vm(base_disks(stack), {"T_PERSISTENT_CDROM": "2"})
    stack.ctl.reset_calls()
    r = node.deploy(vm_xml)
    assert r.ok, r
    assert r.stdout == "one-%d\n" % VM
    [run] = node.stock()
    assert run["script"] == "deploy"
    assert run["argv"] == ["%s/deployment.0" % node.vm_dir, "node1", str(VM), "node1"]
    assert node.cdroms() == {"hda": "%s/disk.3" % node.vm_dir, "hdb": None, "hdc": None}
    trays = etree.fromstring(run["stdin"].encode()).findall("devices/disk[@device='cdrom']")[1:]
    for tray in trays:
        assert tray.get("type") == "block" and tray.find("target").get("bus") == "ide"
        assert tray.find("readonly") is not None and tray.find("source") is None
    # vm.xml and ds.xml reach the VM directory on the host as plain XML (the stock deploy reads them there)
    assert Path(node.vm_dir, "vm.xml").read_text() == vm_xml
    assert Path(node.vm_dir, "ds.xml").read_text() == stack.system_ds_xml
    assert stack.ctl.counts() == {} and stack.oned.call_log().counts == {}


def test_deploy_of_a_vm_without_trays_passes_the_deployment_unchanged(stack, node):
    vm_xml = node.put_vm(base_disks(stack))
    r = node.deploy(vm_xml)
    assert r.ok, r
    [run] = node.stock()
    assert run["stdin"] == deployment_xml(node.vm_dir)
    assert node.cdroms() == {"hda": "%s/disk.3" % node.vm_dir}


def test_the_rc_default_applies_unless_the_vm_says_otherwise_and_q35_trays_are_sata(stack, node):
    vm_xml = node.put_vm(base_disks(stack))
    assert node.deploy(vm_xml, machine="pc-q35-6.2", T_PERSISTENT_CDROM="9").ok
    root = etree.fromstring(node.stock()[-1]["stdin"].encode())
    buses = {d.find("target").get("dev"): d.find("target").get("bus") for d in root.iterfind("devices/disk")}
    assert buses == {"vda": "virtio", "hda": "ide", "hdb": "sata", "hdc": "sata", "hdd": "sata"}  # 9 means 4; 3 free
    vm_xml = node.put_vm(base_disks(stack), {"T_PERSISTENT_CDROM": "0"})
    assert node.deploy(vm_xml, T_PERSISTENT_CDROM="3").ok
    assert node.cdroms() == {"hda": "%s/disk.3" % node.vm_dir}


@pytest.mark.parametrize("value", ["two", "-1", "1e3", "2; reboot"])
def test_a_bad_value_fails_the_deploy_in_one_line_before_the_host_is_touched(stack, node, value):
    vm_xml = node.put_vm(base_disks(stack), {"T_PERSISTENT_CDROM": value})
    r = node.deploy(vm_xml)
    assert r.code != 0
    assert r.error_lines == ["vmm deploy: bad input: VM %d: T_PERSISTENT_CDROM must be a whole number of CD-ROM trays "
                             "(0 to 4), not %r" % (VM, value)]
    assert node.stock() == [] and node.virsh() == []
    assert not Path(node.vm_dir, "vm.xml").exists()


def test_without_vm_xml_beside_the_deployment_the_vm_is_read_from_oned(stack, node):
    vm_xml = node.put_vm(base_disks(stack), {"T_PERSISTENT_CDROM": "1"})
    deployment = node.front / "deployment.0"
    deployment.write_text(deployment_xml(node.vm_dir))
    stack.oned.reset_calls()
    r = stack.vmm("deploy.storpool", str(deployment), "node1", str(VM), "node1", env=node.env())  # XML from the file
    assert r.ok, r
    assert node.cdroms() == {"hda": "%s/disk.3" % node.vm_dir, "hdb": None}
    assert stack.oned.call_log().counts == {"one.vm.info": 1}
    assert not Path(node.vm_dir, "vm.xml").exists() and vm_xml


def test_a_bad_rc_value_is_one_configuration_error_line(stack, node):
    r = node.deploy(node.put_vm(base_disks(stack)), T_PERSISTENT_CDROM="yes")
    assert r.code != 0
    assert r.error_lines == ["vmm deploy: configuration error: T_PERSISTENT_CDROM must be a whole number of CD-ROM "
                             "trays (0 to 4), not 'yes'"]
    assert node.stock() == [] and not Path(node.vm_dir, "vm.xml").exists()


# -- insert and eject ------------------------------------------------------------------------------


def test_insert_eject_and_insert_another_image(stack, node):
    stack.put_image(5)
    stack.put_image(9, type="CDROM", data=b"CD001 first")
    stack.put_image(10, type="CDROM", data=b"CD001 second")
    trays = {"T_PERSISTENT_CDROM": "2"}
    node.running(2)
    path1, path2 = "%s/disk.1" % node.vm_dir, "%s/disk.2" % node.vm_dir

    # attach disk 1 (CDROM image 9, target hdc): tm ln, then the insert
    vm_xml = node.put_vm(base_disks(stack) + [cdrom(stack, 1, 9, "hdc", attaching=True)], trays)
    node.ln(9, 1)
    node.reset()
    stack.ctl.reset_calls()
    r = node.hotplug("attach_disk", vm_xml, 1, "hdc")
    assert r.ok, r
    assert node.virsh() == [["dumpxml", "one-9"], ["change-media", "one-9", "hdc", path1, "--insert", "--block"]]
    assert node.stock() == []  # no hot-plugged device
    assert node.cdroms() == {"hda": "%s/disk.3" % node.vm_dir, "hdb": None, "hdc": path1}
    assert stack.ctl.counts() == {}
    assert stack.clients_of("one-img-9-9-1") == {1: "rw"}

    # detach it: the eject, then tm delete removes the per-VM copy
    node.reset()
    r = node.hotplug("detach_disk", vm_xml, 1, "hdc")
    assert r.ok, r
    assert node.virsh() == [["dumpxml", "one-9"], ["change-media", "one-9", "hdc", "--eject", "--force"]]
    assert node.stock() == []
    assert node.cdroms() == {"hda": "%s/disk.3" % node.vm_dir, "hdb": None, "hdc": None}
    node.delete(1)
    assert "one-img-9-9-1" not in stack.volume_names()
    assert stack.clients_of("one-img-9") == {}

    # another image as disk 2, its target hde is no tray: the first empty tray takes it
    vm_xml = node.put_vm(base_disks(stack) + [cdrom(stack, 2, 10, "hde", attaching=True)], trays)
    node.ln(10, 2)
    node.reset()
    r = node.hotplug("attach_disk", vm_xml, 2, "hde")
    assert r.ok, r
    assert node.virsh()[-1] == ["change-media", "one-9", "hdb", path2, "--insert", "--block"]
    assert node.cdroms() == {"hda": "%s/disk.3" % node.vm_dir, "hdb": path2, "hdc": None}
    assert stack.clients_of("one-img-10-9-2") == {1: "rw"}
    assert stack.read_volume("one-img-10-9-2", 12) == b"CD001 second"


def test_no_empty_tray_left_is_one_line_and_changes_nothing(stack, node):
    stack.put_image(9, type="CDROM")
    trays = {"T_PERSISTENT_CDROM": "1"}
    node.running(1)
    vm_xml = node.put_vm(base_disks(stack) + [cdrom(stack, 1, 9, "hdb", attaching=True)], trays)
    assert node.hotplug("attach_disk", vm_xml, 1, "hdb").ok
    before = node.domain.read_bytes()
    vm_xml = node.put_vm(base_disks(stack) + [cdrom(stack, 1, 9, "hdb"), cdrom(stack, 2, 9, "hdc", attaching=True)],
                         trays)
    node.reset()
    r = node.hotplug("attach_disk", vm_xml, 2, "hdc")
    assert r.code != 0
    assert r.error_lines == ["vmm attach_disk: limit reached: one-9 has no empty "
                             "CD-ROM tray left (T_PERSISTENT_CDROM trays are made when the VM is deployed)"]
    assert node.virsh() == [["dumpxml", "one-9"]] and node.stock() == []
    assert node.domain.read_bytes() == before


def test_only_hd_cdroms_of_vms_with_trays_use_them_the_rest_is_hot_plugged_as_before(stack, node):
    stack.put_image(9, type="CDROM")
    node.running(1)
    hd = cdrom(stack, 1, 9, "hdb", attaching=True)
    sd = cdrom(stack, 1, 9, "sdb", attaching=True)
    sd = stack.b.DiskSpec(dict(sd.attributes, DEV_PREFIX="sd"), sd.snapshots)
    # the rc asks for trays: the VM that says 0, and a CDROM on sd, are hot-plugged by the stock scripts
    for disk, template in ((hd, {"T_PERSISTENT_CDROM": "0"}), (sd, {}), (hd, None)):
        vm_xml = node.put_vm(base_disks(stack) + [disk], template)
        node.reset()
        settings = {"T_PERSISTENT_CDROM": "2"} if template is not None else {}
        assert node.hotplug("attach_disk", vm_xml, 1, disk.attributes["TARGET"], **settings).ok
        assert node.hotplug("detach_disk", vm_xml, 1, disk.attributes["TARGET"], **settings).ok
        assert [run["script"] for run in node.stock()] == ["attach_disk", "detach_disk"]
        assert node.virsh() == []
    # the same hd CDROM of the VM with the rc's trays goes into the tray
    vm_xml = node.put_vm(base_disks(stack) + [hd])
    node.reset()
    assert node.hotplug("attach_disk", vm_xml, 1, "hdb", T_PERSISTENT_CDROM="2").ok
    assert node.stock() == [] and node.cdroms()["hdb"] == "%s/disk.1" % node.vm_dir


def test_a_cdrom_no_tray_holds_is_detached_by_the_stock_script(stack, node):
    stack.put_image(9, type="CDROM")
    trays = {"T_PERSISTENT_CDROM": "1"}
    node.running(1)
    vm_xml = node.put_vm(base_disks(stack) + [cdrom(stack, 1, 9, "hdb", attaching=True)], trays)
    node.reset()
    r = node.hotplug("detach_disk", vm_xml, 1, "hdb")
    assert r.ok, r
    assert node.virsh() == [["dumpxml", "one-9"]]
    assert [run["script"] for run in node.stock()] == ["detach_disk"]


def test_a_bad_value_fails_the_attach_in_one_line_with_no_host_command(stack, node):
    stack.put_image(9, type="CDROM")
    node.running(1)
    vm_xml = node.put_vm(base_disks(stack) + [cdrom(stack, 1, 9, "hdb", attaching=True)], {"T_PERSISTENT_CDROM": "x"})
    node.reset()
    r = node.hotplug("attach_disk", vm_xml, 1, "hdb")
    assert r.code != 0
    assert r.error_lines == ["vmm attach_disk: bad input: VM %d: T_PERSISTENT_CDROM must be a whole number of CD-ROM "
                             "trays (0 to 4), not 'x'" % VM]
    assert node.virsh() == [] and node.stock() == []
    assert node.cdroms()["hdb"] is None

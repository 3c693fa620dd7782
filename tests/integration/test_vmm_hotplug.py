"""vmm attach_disk.storpool / detach_disk.storpool: the block-device fix-up, then the stock kvm script.

The stock scripts are fakes under ``<SCRIPTS_REMOTE_DIR>/vmm/kvm/`` that record their
arguments and stdin, as the local host runner executes them on "node1".
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

FAKE_STOCK = """#!%s
import json, os, sys
name = os.path.basename(sys.argv[0])
record = {"script": name, "argv": sys.argv[1:], "stdin": sys.stdin.read()}
with open(os.environ["FAKE_STOCK_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
if os.environ.get("FAKE_STOCK_FAIL") == name:
    sys.stderr.write("Could not attach the disk to one-%d\\n")
    sys.exit(1)
"""


class Stock:
    def __init__(self, root: Path) -> None:
        self.dir = root / "remote"
        kvm = self.dir / "vmm" / "kvm"
        kvm.mkdir(parents=True)
        for script in ("attach_disk", "detach_disk"):
            path = kvm / script
            path.write_text(FAKE_STOCK % (sys.executable, VM))
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.log = root / "stock.log"

    def env(self, fail: Optional[str] = None) -> Dict[str, str]:
        env = {"ONESP_SCRIPTS_REMOTE_DIR": str(self.dir), "FAKE_STOCK_LOG": str(self.log)}
        if fail:
            env["FAKE_STOCK_FAIL"] = fail
        return env

    def runs(self) -> List[Dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def stock(tmp_path: Path) -> Stock:
    return Stock(tmp_path)


def action_xml(stack: Any, disks: Any) -> str:
    vm = stack.put_vm(VM, disks=disks)
    return stack.b.vmm_driver_action_xml(vm, host="node1", datastore=stack.system_ds_xml,
                                         disk_target_path="/var/lib/one/datastores/101/9/disk.1")


def attach(stack: Any, stock: Stock, xml: str, short: bool = False, fail: Optional[str] = None) -> Any:
    encoded = base64.b64encode(xml.encode()).decode()
    argv = ["one-9", "/var/lib/one/datastores/101/9/disk.1", "vdb", "1", encoded]
    if not short:
        argv += [str(VM), "node1"]
    return stack.vmm("attach_disk.storpool", *argv, stdin=encoded.encode(), env=stock.env(fail))


def attaching_disk(xml: str) -> Dict[str, str]:
    root = etree.fromstring(xml.encode())
    for disk in root.iterfind("VM/TEMPLATE/DISK"):
        if disk.findtext("ATTACH") == "YES":
            return {child.tag: child.text or "" for child in disk}
    raise AssertionError("no attaching disk")


def without_attaching_types(xml: str) -> bytes:
    root = etree.fromstring(xml.encode())
    for disk in root.iterfind("VM/TEMPLATE/DISK"):
        if disk.findtext("ATTACH") == "YES":
            for tag in ("TYPE", "DISK_TYPE"):
                for node in disk.findall(tag):
                    disk.remove(node)
    return etree.tostring(root, method="c14n")


def test_volatile_disk_on_storpool_is_attached_as_a_block_device(stack, stock):
    b = stack.b
    xml = action_xml(stack, [b.image_disk(0, 5, size=16), b.volatile_disk(1, 16, extra={"ATTACH": "YES"})])
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    r = attach(stack, stock, xml)
    assert r.ok, r
    [run] = stock.runs()
    assert run["script"] == "attach_disk"
    assert run["argv"][:4] == ["one-9", "/var/lib/one/datastores/101/9/disk.1", "vdb", "1"]
    assert run["argv"][5:] == [str(VM), "node1"]
    sent = base64.b64decode(run["argv"][4]).decode()
    assert sent == run["stdin"]
    disk = attaching_disk(sent)
    assert (disk["TYPE"], disk["DISK_TYPE"]) == ("BLOCK", "BLOCK")
    assert without_attaching_types(sent) == without_attaching_types(xml)  # nothing else changed
    assert attaching_disk(xml)["TYPE"] == "fs"
    assert stack.ctl.counts() == {} and stack.oned.call_log().counts == {}


def test_file_typed_storpool_image_and_cdrom(stack, stock):
    b = stack.b
    xml = action_xml(stack, [b.image_disk(0, 5, size=16), b.image_disk(1, 6, type="FILE", extra={"ATTACH": "YES"})])
    assert attach(stack, stock, xml).ok
    disk = attaching_disk(base64.b64decode(stock.runs()[-1]["argv"][4]).decode())
    assert (disk["TYPE"], disk["DISK_TYPE"]) == ("BLOCK", "BLOCK")

    xml = action_xml(stack, [b.image_disk(0, 5, size=16),
                             b.cdrom_disk(1, 6, extra={"ATTACH": "YES", "DISK_TYPE": "FILE"})])
    assert attach(stack, stock, xml).ok
    disk = attaching_disk(base64.b64decode(stock.runs()[-1]["argv"][4]).decode())
    assert (disk["TYPE"], disk["DISK_TYPE"]) == ("CDROM", "BLOCK")


@pytest.mark.parametrize("kind", ["block image", "other TM"])
def test_disks_needing_no_fix_up_are_passed_on_unchanged(stack, stock, kind):
    b = stack.b
    if kind == "block image":
        disk = b.image_disk(1, 6, extra={"ATTACH": "YES"})
    else:
        disk = b.image_disk(1, 6, tm_mad="ssh", type="FILE", extra={"ATTACH": "YES"})
    xml = action_xml(stack, [b.image_disk(0, 5, size=16), disk])
    r = attach(stack, stock, xml)
    assert r.ok, r
    [run] = stock.runs()
    assert base64.b64decode(run["argv"][4]).decode() == xml
    assert run["stdin"] == xml


def test_short_form_takes_the_host_from_the_driver_action(stack, stock):
    b = stack.b
    xml = action_xml(stack, [b.volatile_disk(1, 16, extra={"ATTACH": "YES"})])
    r = attach(stack, stock, xml, short=True)
    assert r.ok, r
    [run] = stock.runs()
    assert len(run["argv"]) == 5


def test_stock_script_failure_is_one_clear_line(stack, stock):
    b = stack.b
    xml = action_xml(stack, [b.volatile_disk(1, 16, extra={"ATTACH": "YES"})])
    r = attach(stack, stock, xml, fail="attach_disk")
    assert r.code != 0
    assert r.error_lines == ["vmm attach_disk: run the stock kvm attach_disk on node1: host command failed: "
                             "kvm attach_disk on node1: Could not attach the disk to one-9"]


def test_bad_input(stack, stock):
    b = stack.b
    xml = action_xml(stack, [b.image_disk(0, 5, size=16)])
    r = attach(stack, stock, xml)
    assert r.code != 0 and r.error_lines == ["vmm attach_disk: bad input: the driver action has no disk with ATTACH=YES"]
    r = stack.vmm("attach_disk.storpool", "one-9", "/x/disk.1", "vdb", env=stock.env())
    assert r.code != 0 and "attach_disk takes 7 arguments (or 5 without VM id and host), got 3" in r.error_lines[0]
    r = stack.vmm("attach_disk.storpool", "one-9", "/x/disk.1", "vdb", "1", "not base64!", "9", "node1",
                  env=stock.env())
    assert r.code != 0 and "not base64" in r.error_lines[0]
    r = stack.vmm("attach_disk.storpool", "one-9; reboot", "/x/disk.1", "vdb", "1", "QUJD", "9", "node1",
                  env=stock.env())
    assert r.code != 0 and "invalid domain name" in r.error_lines[0]
    assert stock.runs() == []


def test_detach_runs_the_stock_script_with_the_same_arguments(stack, stock):
    b = stack.b
    xml = action_xml(stack, [b.image_disk(0, 5, size=16), b.volatile_disk(1, 16, extra={"ATTACH": "YES"})])
    argv = ["one-9", "/var/lib/one/datastores/101/9/disk.1", "vdb", "1", str(VM), "node1"]
    r = stack.vmm("detach_disk.storpool", *argv, stdin=base64.b64encode(xml.encode()), env=stock.env())
    assert r.ok, r
    r = stack.vmm("detach_disk.storpool", *argv, env=stock.env())  # no driver action on stdin
    assert r.ok, r
    first, second = stock.runs()
    assert first["script"] == second["script"] == "detach_disk"
    assert first["argv"] == second["argv"] == argv
    disk = attaching_disk(first["stdin"])
    assert (disk["TYPE"], disk["DISK_TYPE"]) == ("BLOCK", "BLOCK")
    assert second["stdin"] == ""
    r = stack.vmm("detach_disk.storpool", *argv, env=stock.env(fail="detach_disk"))
    assert r.code != 0 and r.error_lines[0].startswith("vmm detach_disk: run the stock kvm detach_disk on node1: ")

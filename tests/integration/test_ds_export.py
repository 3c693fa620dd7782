"""ds export (marketplace) and its DISPOSE_CMD export.delete."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from onesp.sim.stack import EXECUTABLE_DIRS

MIB = 1024 * 1024


def export(stack, env=None, app_id: str = "3", ds_template=None, put: bool = True):
    xml = stack.put_image(5, data=b"exported bytes") if put else stack.oned.get("image", 5)
    ds = stack.put_datastore(100, template=ds_template or {})
    stack.ctl.reset_calls()
    r = stack.ds("export", app_id, stdin=stack.ds_action(ds, xml), env=env)
    info = etree.fromstring(r.stdout.encode()) if r.ok else None
    return r, info


def dispose(stack, info, env=None):
    command = shlex.split(info.findtext("DISPOSE_CMD"))
    assert command[0] == str(EXECUTABLE_DIRS["ds"] / "export.delete")
    return stack.ds("export.delete", *command[1:], env=env)


def test_export_of_the_device(stack):
    r, info = export(stack)
    assert r.ok, r
    assert stack.ctl.counts() == {"Volume": 1, "VolumeSnapshot": 1, "VolumesReassignWait": 1}
    source = info.findtext("IMPORT_SOURCE")
    assert source.startswith("ssh://node2:%s/one-img-5-export-" % stack.dev_dir)  # app 3 -> bridge 3 mod 2
    snapshot = source.rsplit("/", 1)[1]
    assert stack.snapshot_names() == [snapshot]
    assert stack.attachments() == [{"volume": snapshot, "snapshot": True, "client": 2, "rights": "ro", "pos": 0,
                                    "globalId": stack.sp.snapshot(snapshot)["globalId"]}]
    content = Path(source.split(":", 2)[2]).read_bytes()
    assert content.startswith(b"exported bytes") and len(content) == 16 * MIB
    assert info.findtext("MD5") == hashlib.md5(content).hexdigest()
    assert (info.findtext("SIZE"), info.findtext("FORMAT"), info.findtext("DISPOSE")) == ("16", "raw", "YES")
    done = dispose(stack, info)
    assert done.ok, done
    assert stack.snapshot_names() == [] and stack.attachments() == []
    assert dispose(stack, info).ok  # already gone


def test_export_reports_the_transport_export_transport_names(stack, tmp_path):
    rc = tmp_path / "addon-storpoolrc"
    rc.write_text("EXPORT_TRANSPORT=scp\n")
    r, info = export(stack, env={"ONESP_RC": str(rc)})
    assert r.ok, r
    assert info.findtext("IMPORT_SOURCE").startswith("scp://node2:%s/one-img-5-export-" % stack.dev_dir)
    assert dispose(stack, info).ok
    rc.write_text("EXPORT_TRANSPORT='ssh://evil'\n")
    r, _ = export(stack, env={"ONESP_RC": str(rc)}, put=False)
    assert r.error_lines == ["ds export: configuration error: EXPORT_TRANSPORT in %s line 1: expected a URL scheme "
                             "such as ssh, got 'ssh://evil'" % rc], r
    assert stack.snapshot_names() == [] and stack.attachments() == []


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_export_as_a_qcow2_file(stack, tmp_path):
    env = {"ONESP_EXPORT_FILE_FORMAT": "qcow2", "ONESP_STAGING_DIR": str(tmp_path / "staging")}
    (tmp_path / "staging").mkdir()
    r, info = export(stack, env=env, ds_template={"EXPORT_BRIDGE_LIST": "node1"})
    assert r.ok, r
    host, path = info.findtext("IMPORT_SOURCE")[len("ssh://"):].split(":", 1)
    assert host == "node1" and path.startswith(str(tmp_path / "staging" / "onesp-export."))
    assert info.findtext("FORMAT") == "qcow2"
    assert info.findtext("MD5") == hashlib.md5(Path(path).read_bytes()).hexdigest()
    back = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", path, str(back)], check=True)
    assert back.read_bytes().startswith(b"exported bytes")
    assert stack.snapshot_names() == [] and stack.attachments() == []
    assert dispose(stack, info, env=env).ok
    assert list((tmp_path / "staging").iterdir()) == []


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_export_with_extra_qemu_img_options(stack, tmp_path):
    (tmp_path / "staging").mkdir()
    env = {"ONESP_EXPORT_FILE_FORMAT": "qcow2", "ONESP_STAGING_DIR": str(tmp_path / "staging"),
           "ONESP_EXPORT_QEMU_IMG_ARGS": "-c -o 'compat=0.10'"}
    r, info = export(stack, env=env, ds_template={"EXPORT_BRIDGE_LIST": "node1"})
    assert r.ok, r
    path = info.findtext("IMPORT_SOURCE").split(":", 2)[2]
    details = json.loads(subprocess.run(["qemu-img", "info", "--output=json", path], capture_output=True,
                                        check=True).stdout)
    assert details["format"] == "qcow2" and details["format-specific"]["data"]["compat"] == "0.10"
    assert dispose(stack, info, env=env).ok

    r, _ = export(stack, env=dict(env, ONESP_EXPORT_QEMU_IMG_ARGS="-o 'compat=0.10"),
                  ds_template={"EXPORT_BRIDGE_LIST": "node1"}, put=False)
    [line] = r.error_lines
    assert line.startswith("ds export: convert one-img-5-export-") and line.endswith(
        ": configuration error: EXPORT_QEMU_IMG_ARGS: No closing quotation"), line
    assert stack.snapshot_names() == [] and stack.attachments() == []
    assert list((tmp_path / "staging").iterdir()) == []


def test_export_refusals(stack, tmp_path):
    r, _ = export(stack, ds_template={"BRIDGE_LIST": ""})
    assert r.error_lines == ["ds export: configuration error: export needs a bridge host: set EXPORT_BRIDGE_LIST or "
                             "BRIDGE_LIST on datastore 100"]
    stack.put_image(6)
    stack.sp.volume_snapshot("one-img-6", "one-img-6-snap0")
    stack.sp.attach("one-img-6-snap0", 1, snapshot=True)
    for host, path, reason in (
        ("node1", "/etc/passwd", "not an export of this driver"),
        ("node1", "%s/one-img-6-snap0" % stack.dev_dir, "not an export snapshot of this driver"),
        ("node1", "%s/one-img-6-export-abc" % stack.dev_dir, "not an export snapshot of this driver"),
        ("node1;rm", "/tmp/x", "invalid host name"),
    ):
        refused = stack.ds("export.delete", host, path)
        assert refused.code != 0 and len(refused.error_lines) == 1 and reason in refused.error_lines[0], refused
    assert stack.snapshot_names() == ["one-img-6-snap0"]

"""ds cp from files and URLs, run as oned runs it: real images made with qemu-img, read back byte for byte."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest
from lxml import etree

from fixtures.web import serve_directory

MIB = 1024 * 1024
STAGING = "one-img-5-" + hashlib.md5(b"one-img-5\n").hexdigest()
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, bytes]:
    """A raw image with known content (not a multiple of 512 bytes) and the same in qcow2, vmdk, vhdx."""
    folder = tmp_path_factory.mktemp("images")
    data = os.urandom(2 * MIB) + bytes(MIB) + b"tail of the image" * 61
    (folder / "disk.raw").write_bytes(data)
    for fmt in ("qcow2", "vmdk", "vhdx"):
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(folder / "disk.raw"),
                        str(folder / ("disk." + fmt))], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "vdi", str(folder / "disk.vdi"), "1M"], check=True)
    with gzip.open(folder / "disk.qcow2.gz", "wb") as out:
        out.write((folder / "disk.qcow2").read_bytes())
    return folder, data


@pytest.fixture
def env(tmp_path: Path) -> Dict[str, str]:
    staging = tmp_path / "staging"
    staging.mkdir()
    return {"ONESP_STAGING_DIR": str(staging)}


def prepare_import(stack, folder: Path, path: str, image_id: int = 5, ds_template=None, **image) -> bytes:
    """Image ``image_id`` in state LOCKED with PATH, on datastore 100 that allows ``folder``; its driver action."""
    template = {"SAFE_DIRS": str(folder)}
    template.update(ds_template or {})
    ds = stack.put_datastore(100, template=template)
    xml = stack.b.image_xml(image_id, source="", path=path, state=4, size=4, **image)
    stack.oned.put("image", xml)
    return stack.ds_action(ds, xml)


def read_back(stack, data: bytes, name: str = "one-img-5") -> bytes:
    return stack.read_volume(name, len(data) + 4096)


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vmdk", "vhdx"])
def test_cp_imports_each_format_byte_for_byte(stack, images, env, fmt):
    folder, data = images
    stdin = prepare_import(stack, folder, str(folder / ("disk." + fmt)))
    stack.ctl.reset_calls()
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.ok, r
    assert r.stdout == "one-ds-100/one-img-5 raw\n"
    assert stack.ctl.counts() == {"Volume": 1, "VolumeCreate": 1, "VolumesReassignWait": 2, "VolumeUpdate": 1}
    volume = stack.volume("one-img-5")
    assert volume["size"] == 4 * MIB  # virtual size rounded up to MiB
    assert volume["templateName"] == "one-ds-100"
    assert volume["tags"] == {"virt": "one", "nloc": "one"}
    assert read_back(stack, data) == data + bytes(4096)
    assert stack.volume_names() == ["one-img-5"] and stack.attachments() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_cp_argv_form_rerun_and_qos(stack, images, env):
    folder, data = images
    stdin = prepare_import(stack, folder, str(folder / "disk.qcow2"), ds_template={"SP_QOSCLASS": "silver"},
                  template={"SP_QOSCLASS": "gold"})
    r = stack.ds("cp", stdin.decode(), "5", env=env)  # OpenNebula <= 6.6: driver action in argv
    assert r.ok, r
    assert r.stdout == "one-ds-100/one-img-5 raw\n"
    assert stack.volume("one-img-5")["tags"] == {"virt": "one", "nloc": "one", "qc": "gold"}
    before = stack.state()
    stack.ctl.reset_calls()
    again = stack.ds("cp", "-", "5", stdin=stdin, env=env)
    assert again.ok and again.stdout == r.stdout
    assert stack.ctl.counts() == {"Volume": 1}
    assert stack.state() == before
    assert read_back(stack, data)[:len(data)] == data


def test_cp_replaces_a_staging_volume_left_by_a_crash(stack, images, env):
    folder, data = images
    stdin = prepare_import(stack, folder, str(folder / "disk.raw"))
    stack.sp.volume_create(STAGING, size=MIB, template="one-ds-100")
    stack.write_volume(STAGING, b"junk" * 1000)
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.ok, r
    assert stack.volume_names() == ["one-img-5"]
    assert read_back(stack, data) == data + bytes(4096)


def test_cp_without_bridges_works_on_the_front_end(stack, images, env, tmp_path):
    folder, data = images
    conf = tmp_path / "storpool.conf"
    conf.write_text("SP_OURID=99\n")  # not a client of the emulator: shows which id the attach used
    stdin = prepare_import(stack, folder, str(folder / "disk.vmdk"), ds_template={"BRIDGE_LIST": ""})
    env = dict(env, ONESP_STORPOOL_CONF=str(conf))
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.code != 0 and r.error_lines[0].endswith("No such client registered: 99")
    assert stack.volume_names() == []
    conf.write_text("SP_OURID=9\n")
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.ok, r
    assert read_back(stack, data) == data + bytes(4096)
    assert stack.oned.call_log().count("one.hostpool.info") == 0
    conf.write_text("")
    r = stack.ds("cp", "6", stdin=prepare_import(stack, folder, str(folder / "disk.raw"), image_id=6,
                                        ds_template={"BRIDGE_LIST": ""}), env=env)
    assert r.code != 0 and len(r.error_lines) == 1
    assert "has no valid SP_OURID" in r.error_lines[0]


def test_cp_decompresses_gzip_and_checks_checksums_of_the_file_as_given(stack, images, env):
    folder, data = images
    given = (folder / "disk.qcow2.gz").read_bytes()
    stdin = prepare_import(stack, folder, str(folder / "disk.qcow2.gz"),
                  template={"MD5": hashlib.md5(given).hexdigest(), "SHA1": hashlib.sha1(given).hexdigest()})
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.ok, r
    assert read_back(stack, data) == data + bytes(4096)
    assert "gzip" in stack.log_text()


def test_cp_wrong_checksum_is_one_clear_line_and_changes_nothing(stack, images, env):
    folder, _ = images
    stdin = prepare_import(stack, folder, str(folder / "disk.raw"), template={"MD5": "0" * 32})
    before = stack.state()
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.code != 0
    assert r.error_lines == [r.stderr.splitlines()[0]]
    assert r.error_lines[0].startswith("ds cp: check the checksums of %s: bad input: MD5 of" % (folder / "disk.raw"))
    assert "but the image says " + "0" * 32 in r.error_lines[0]
    assert stack.state() == before
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


@pytest.mark.parametrize("path, expected", [
    ("missing.raw", "read image file {folder}/missing.raw: not found: image file {folder}/missing.raw does not exist"),
    ("", "read image file {folder}: bad input: image file {folder} is not a regular file"),
    ("disk.vdi", "inspect {folder}/disk.vdi: unsupported: {folder}/disk.vdi is a vdi image; supported formats "
                 "are raw, qcow2, vmdk, vhdx"),
])
def test_cp_unreadable_or_unknown_sources(stack, images, env, path, expected):
    folder, _ = images
    target = str(folder / path) if path else str(folder)
    stdin = prepare_import(stack, folder, target)
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.code != 0
    assert r.error_lines == ["ds cp: " + expected.format(folder=folder)]
    assert stack.volume_names() == []


def test_cp_refuses_restricted_paths_symlinks_included(stack, images, env, tmp_path):
    folder, _ = images
    outside = tmp_path / "outside.raw"
    outside.write_bytes(b"x" * 4096)
    link = tmp_path / "safe"
    link.mkdir()
    (link / "looks-safe.raw").symlink_to(outside)
    stdin = prepare_import(stack, link, str(link / "looks-safe.raw"))
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.code != 0 and len(r.error_lines) == 1
    assert "not allowed: copying image file %s" % (link / "looks-safe.raw") in r.error_lines[0]
    assert stack.volume_names() == []


def test_cp_refuses_images_that_read_other_files(stack, images, env, tmp_path):
    folder, _ = images
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(folder / "disk.raw"), "-F", "raw",
                    str(overlay)], check=True)
    stdin = prepare_import(stack, tmp_path, str(overlay))
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.code != 0
    assert r.error_lines[0].endswith("has a backing file; only self-contained images can be imported")
    assert stack.volume_names() == []


def test_cp_missing_template_and_wrong_token(stack, images, env):
    folder, _ = images
    ds = stack.put_datastore(102, template={"SAFE_DIRS": str(folder)})
    image = stack.b.image_xml(5, source="", path=str(folder / "disk.raw"), state=4, datastore_id=102)
    stdin = base64.b64encode(stack.b.ds_driver_action_xml(ds, image).encode())
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.code != 0 and len(r.error_lines) == 1
    assert r.error_lines[0].startswith("ds cp: create volume %s: not found:" % STAGING)
    assert "one-ds-102" in r.error_lines[0]
    assert stack.volume_names() == []
    bad = stack.ds("cp", "5", stdin=prepare_import(stack, folder, str(folder / "disk.raw")),
                   env=dict(env, SP_AUTH_TOKEN="wrong-token-123456"))
    assert bad.code != 0 and len(bad.error_lines) == 1
    assert bad.error_lines[0].startswith("ds cp: look up volume one-img-5: StorPool refused the token:")
    assert "wrong-token-123456" not in bad.stderr + stack.log_text()


def test_cp_zero_sized_image_is_refused(stack, env, tmp_path):
    empty = tmp_path / "empty.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(empty), "0"], check=True)
    r = stack.ds("cp", "5", stdin=prepare_import(stack, tmp_path, str(empty)), env=env)
    assert r.code != 0
    assert r.error_lines == ["ds cp: inspect %s: bad input: %s has a virtual size of 0 bytes" % (empty, empty)]


@pytest.fixture
def web(images) -> Iterator[str]:
    with serve_directory(images[0]) as url:
        yield url


def test_cp_from_http_with_md5(stack, images, env, web):
    folder, data = images
    given = (folder / "disk.vhdx").read_bytes()
    stdin = prepare_import(stack, folder, web + "/disk.vhdx?signature=secret", template={"MD5": hashlib.md5(given).hexdigest()})
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.ok, r
    assert read_back(stack, data) == data + bytes(4096)
    log = stack.log_text()
    assert "download %s/disk.vhdx: done" % web in log
    assert "signature=secret" not in log
    missing = stack.ds("cp", "6", stdin=prepare_import(stack, folder, web + "/nothing.raw", image_id=6), env=env)
    assert missing.code != 0
    assert missing.error_lines == ["ds cp: download %s/nothing.raw: not found: cannot download %s/nothing.raw: "
                                   "HTTP 404 File not found" % (web, web)]
    other = stack.ds("cp", "6", stdin=prepare_import(stack, folder, "ftp://127.0.0.1/x.raw", image_id=6), env=env)
    assert other.code != 0 and other.error_lines[0].startswith("ds cp: unsupported: cannot import from ftp://")
    assert stack.volume_names() == ["one-img-5"]
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_cp_from_http_keeps_to_the_datastores_transfer_limit(stack, images, env, web):
    folder, data = images
    stdin = prepare_import(stack, folder, web + "/disk.raw", ds_template={"LIMIT_TRANSFER_BW": "2M"})
    started = time.monotonic()
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    elapsed = time.monotonic() - started
    assert r.ok, r
    assert read_back(stack, data)[:len(data)] == data
    # 3 MiB at 2 MiB/s: at least 1.25 s once the first 512 KiB chunk (not waited for) is out
    assert elapsed >= 1.25, elapsed

    stdin = prepare_import(stack, folder, web + "/disk.raw", image_id=6, ds_template={"LIMIT_TRANSFER_BW": "fast"})
    bad = stack.ds("cp", "6", stdin=stdin, env=env)
    assert bad.error_lines == ["ds cp: configuration error: LIMIT_TRANSFER_BW of datastore 100 is 'fast': give "
                               "bytes per second, optionally with K, M or G"]
    assert stack.volume_names() == ["one-img-5"]


def test_cp_update_image_on_import(stack, images, env):
    folder, _ = images
    stdin = prepare_import(stack, folder, str(folder / "disk.qcow2"), template={"DRIVER": "qcow2"})
    r = stack.ds("cp", "5", stdin=stdin, env=dict(env, ONESP_DS_CP_REPORT_FORMAT="0", ONESP_UPDATE_IMAGE_ON_IMPORT="1"))
    assert r.ok, r
    assert r.stdout == "one-ds-100/one-img-5\n"
    assert stack.oned.call_log().count("one.image.update") == 1
    template = etree.fromstring(stack.oned.get("image", 5).encode()).find("TEMPLATE")
    assert (template.findtext("DRIVER"), template.findtext("FORMAT")) == ("raw", "raw")

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
from urllib.parse import quote

import pytest
from fixtures import web as web_fixture
from fixtures.web import serve_directory
from lxml import etree

MIB = 1024 * 1024
STAGING = "one-img-5-" + hashlib.md5(b"one-img-5\n").hexdigest()
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, bytes]:
    """A raw image with known content (not a multiple of 512 bytes) and the same in qcow2, vmdk, vhdx,
    VHD (``vpc``, dynamic and fixed) and VDI."""
    folder = tmp_path_factory.mktemp("images")
    data = os.urandom(2 * MIB) + bytes(MIB) + b"tail of the image" * 61
    (folder / "disk.raw").write_bytes(data)
    for fmt in ("qcow2", "vmdk", "vhdx", "vpc", "vdi"):
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(folder / "disk.raw"),
                        str(folder / ("disk." + fmt))], check=True)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", str(folder / "disk.raw"),
                    str(folder / "disk.fixed-vpc")], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qed", str(folder / "disk.qed"), "1M"], check=True)
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
    xml = stack.b.image_xml(image_id, source="", path=path, state=4, **dict({"size": 4}, **image))
    stack.oned.put("image", xml)
    return stack.ds_action(ds, xml)


def read_back(stack, data: bytes, name: str = "one-img-5") -> bytes:
    return stack.read_volume(name, len(data) + 4096)


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vmdk", "vhdx", "vpc", "fixed-vpc", "vdi"])
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
    # the whole volume: a fixed VHD taken as raw would leave its 512-byte footer past the data
    assert stack.read_volume("one-img-5", 4 * MIB) == data + bytes(4 * MIB - len(data))
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
    ("disk.qed", "inspect {folder}/disk.qed: unsupported: {folder}/disk.qed is a qed image; supported formats "
                 "are raw, qcow2, vmdk, vhdx, vpc, vdi"),
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
    r = stack.ds("cp", "5", stdin=stdin, env=dict(env, ONESP_DS_CP_REPORT_FORMAT="0", ONESP_UPDATE_IMAGE_ON_IMPORT="1",
                                                  ONESP_DS_CP_FORCE_DEV_PREFIX="sd"))
    assert r.ok, r
    assert r.stdout == "one-ds-100/one-img-5 raw\n"  # oned 6.0+ puts an image without FORMAT in ERROR
    assert stack.oned.call_log().count("one.image.update") == 1
    template = etree.fromstring(stack.oned.get("image", 5).encode()).find("TEMPLATE")
    assert (template.findtext("DRIVER"), template.findtext("FORMAT"), template.findtext("DEV_PREFIX")) == (
        "raw", "raw", "sd")


def test_cp_always_reports_the_format_and_checks_the_dev_prefix_first(stack, images, env):
    folder, _ = images
    stdin = prepare_import(stack, folder, str(folder / "disk.raw"))
    r = stack.ds("cp", "5", stdin=stdin, env=dict(env, ONESP_DS_CP_REPORT_FORMAT="no"))
    assert r.ok and r.stdout == "one-ds-100/one-img-5 raw\n", r
    stdin = prepare_import(stack, folder, str(folder / "disk.qcow2"), image_id=6, template={"DRIVER": "qcow2"})
    r = stack.ds("cp", "6", stdin=stdin, env=dict(env, ONESP_DS_CP_REPORT_FORMAT="0", ONESP_UPDATE_IMAGE_ON_IMPORT="1",
                                                  ONESP_DS_CP_FORCE_DEV_PREFIX="s d"))
    assert r.error_lines == ["ds cp: configuration error: DS_CP_FORCE_DEV_PREFIX in environment variable "
                             "ONESP_DS_CP_FORCE_DEV_PREFIX: expected a device prefix such as sd or vd, got 's d'"], r
    assert stack.volume_names() == ["one-img-5"]


# -- hostile image owners: the file judged is the file imported -------------------------------------


def test_cp_imports_the_file_it_checked_even_when_it_is_swapped_meanwhile(stack, images, env, tmp_path):
    """QEMU_IMG is a wrapper that, before the first qemu-img runs, puts a symlink to a file outside
    SAFE_DIRS where the checked file was: the import must still be the checked file's content."""
    folder, data = images
    safe = tmp_path / "safe"
    safe.mkdir()
    shutil.copy(folder / "disk.qcow2", safe / "disk.qcow2")
    secret = tmp_path / "secret.raw"
    secret.write_bytes(b"SECRET" * (len(data) // 6))
    wrapper = tmp_path / "qemu-img"
    wrapper.write_text('#!/bin/sh\nif [ ! -e "{0}.done" ]; then touch "{0}.done"; ln -sfn "{1}" "{2}"; fi\n'
                       'exec qemu-img "$@"\n'.format(wrapper, secret, safe / "disk.qcow2"))
    wrapper.chmod(0o755)
    stdin = prepare_import(stack, safe, str(safe / "disk.qcow2"))
    r = stack.ds("cp", "5", stdin=stdin, env=dict(env, ONESP_QEMU_IMG=str(wrapper)))
    assert (safe / "disk.qcow2").is_symlink()  # the swap happened
    assert r.ok, r
    assert read_back(stack, data) == data + bytes(4096)


def test_cp_conversion_opens_no_backing_file_named_after_the_checks(stack, env, tmp_path):
    """The image's owner rewrites its header in place (same file) once qemu-img info passed: the
    backing file it names from then on must not be read by the conversion."""
    safe = tmp_path / "safe"
    safe.mkdir()
    image = safe / "empty.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "1M"], check=True)
    secret = tmp_path / "secret.raw"
    secret.write_bytes(b"SECRET" * (MIB // 6 + 1))
    wrapper = tmp_path / "qemu-img"
    wrapper.write_text('#!/bin/sh\nif [ -e "{0}.seen" ]; then qemu-img rebase -u -f qcow2 -b "{1}" -F raw "{2}"; fi\n'
                       'touch "{0}.seen"\nexec qemu-img "$@"\n'.format(wrapper, secret, image))
    wrapper.chmod(0o755)
    r = stack.ds("cp", "5", stdin=prepare_import(stack, safe, str(image)), env=dict(env, ONESP_QEMU_IMG=str(wrapper)))
    assert "backing file: %s" % secret in subprocess.run(["qemu-img", "info", str(image)], capture_output=True,
                                                         text=True, check=True).stdout  # the rewrite happened
    assert r.ok, r
    assert stack.read_volume("one-img-5", MIB) == bytes(MIB)


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk", "vpc", "vdi"])
def test_cp_refuses_an_image_cut_short(stack, images, env, tmp_path, fmt):
    folder, _ = images
    whole = (folder / ("disk." + fmt)).read_bytes()
    cut = tmp_path / ("cut." + fmt)
    cut.write_bytes(whole[:len(whole) // 2])
    before = stack.state()
    r = stack.ds("cp", "5", stdin=prepare_import(stack, tmp_path, str(cut)), env=env)
    assert r.code != 0
    assert len(r.error_lines) == 1 and r.error_lines == [r.stderr.strip()]
    damaged = "qemu-img cannot read %s: " % cut if fmt == "vpc" else "%s is damaged" % cut  # qemu-img info sees it
    assert r.error_lines[0].startswith("ds cp: inspect %s: bad input: %s" % (cut, damaged))
    assert stack.state() == before and stack.volume_names() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_cp_from_a_world_writable_directory_only_takes_files_nobody_else_controls(stack, images, env, tmp_path):
    folder, data = images
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    own = shared / "own.raw"
    shutil.copy(folder / "disk.raw", own)
    others = shared / "others.raw"
    shutil.copy(folder / "disk.raw", others)
    os.chown(others, 12345, 12345)
    writable = shared / "writable.raw"
    shutil.copy(folder / "disk.raw", writable)
    writable.chmod(0o666)
    linked = shared / "linked.raw"
    os.link(folder / "disk.raw", linked)
    (shared / "link.raw").symlink_to(own)  # to an allowed file, but links there are not followed
    refusals = {
        others: "and belongs to uid 12345 (only files of oneadmin or root are imported from there)",
        writable: "and others may write to it",
        linked: "and it has 2 hard links",
    }
    for image_id, (path, reason) in enumerate(refusals.items(), 6):
        r = stack.ds("cp", str(image_id), stdin=prepare_import(stack, shared, str(path), image_id=image_id), env=env)
        assert r.error_lines == ["ds cp: read image file %s: not allowed: copying image file %s: it is below %s, a "
                                 "directory every local account can write to, %s" % (path, path, shared, reason)]
    r = stack.ds("cp", "9", stdin=prepare_import(stack, shared, str(shared / "link.raw"), image_id=9), env=env)
    assert r.error_lines == ["ds cp: read image file {0}: not allowed: image file {0} is a symbolic link in {1}, a "
                             "directory every local account can write to".format(shared / "link.raw", shared)]
    assert stack.volume_names() == []
    r = stack.ds("cp", "5", stdin=prepare_import(stack, shared, str(own)), env=env)
    assert r.ok, r
    assert read_back(stack, data) == data + bytes(4096)


def test_cp_of_a_decompression_bomb_stops_at_the_datastores_free_space(stack, env, tmp_path):
    bomb = tmp_path / "bomb.raw.gz"
    bomb.write_bytes(gzip.compress(bytes(16 * MIB), compresslevel=9) * 16)  # 256 MiB of zeros in 250 KB
    ds = stack.b.datastore_xml(100, template={"SAFE_DIRS": str(tmp_path)}, free_mb=64,
                               location=str(stack.ds_location))
    stack.oned.put("datastore", ds)
    xml = stack.b.image_xml(5, source="", path=str(bomb), state=4, size=4)
    stdin = stack.ds_action(ds, xml)
    r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.error_lines == ["ds cp: read image file %s: bad input: %s once decompressed is more than 64 MiB, the "
                             "datastore's free space (FREE_MB)" % (bomb, bomb)]
    assert stack.volume_names() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


@pytest.fixture
def hostile_web(images) -> Iterator[Tuple[str, list]]:
    seen: list = []
    with serve_directory(images[0], seen) as url:
        yield url, seen


@pytest.mark.parametrize("where", ["slow", "slow-headers"])
def test_cp_gives_up_on_a_server_that_sends_a_byte_every_few_seconds(stack, images, env, hostile_web, where):
    folder, _ = images
    web, _ = hostile_web
    url = "%s/%s/disk.raw" % (web, where)
    started = time.monotonic()
    r = stack.ds("cp", "5", stdin=prepare_import(stack, folder, url), env=dict(env, ONESP_DOWNLOAD_TIMEOUT="2"), timeout=60)
    elapsed = time.monotonic() - started
    assert r.error_lines == ["ds cp: download %s: temporary failure: gave up on %s: less than 65536 bytes came in 2 "
                             "seconds (DOWNLOAD_TIMEOUT)" % (url, url)]
    assert elapsed < 10, elapsed
    assert stack.volume_names() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_cp_from_a_url_with_user_and_password(stack, images, env, hostile_web):
    folder, data = images
    web, seen = hostile_web
    password = quote(web_fixture.PASSWORD, safe="")
    base = web.replace("http://", "http://%s:%s@" % (web_fixture.USER, password))
    r = stack.ds("cp", "5", stdin=prepare_import(stack, folder, base + "/private/disk.qcow2"), env=env)
    assert r.ok, r
    assert read_back(stack, data) == data + bytes(4096)
    redirected = stack.ds("cp", "6", stdin=prepare_import(stack, folder, base + "/redirect/private/disk.qcow2", image_id=6),
                          env=env)
    shown = web + "/redirect/private/disk.qcow2"
    assert redirected.error_lines == ["ds cp: download %s: backend error: cannot download %s: HTTP 401 Unauthorized"
                                      % (shown, shown)]
    assert seen[-1] == ("/private/disk.qcow2", None)  # the credentials did not follow the redirect
    for text in (r.stdout, r.stderr, redirected.stderr, stack.log_text()):
        assert "w0rd-secret" not in text and password not in text


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:99999/disk.raw", "the port is not a number from 0 to 65535"),
    ("http://[::1/disk.raw", "a [ or ] around the host is unmatched"),
    ("https://user:hunter2@[::1/disk.raw", "a [ or ] around the host is unmatched"),
    ("http:///disk.raw", None),
])
def test_cp_malformed_urls_are_bad_input(stack, images, env, url, reason):
    folder, _ = images
    r = stack.ds("cp", "5", stdin=prepare_import(stack, folder, url), env=env)
    scheme = url.partition("://")[0]
    expected = ("malformed URL %s://...: %s" % (scheme, reason)) if reason else "URL http://... names no host"
    assert r.error_lines == ["ds cp: bad input: " + expected]
    assert "hunter2" not in r.stderr + stack.log_text()
    assert stack.volume_names() == []


@pytest.fixture(scope="module")
def big_images(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, bytes]:
    """8 MiB of random data as raw, raw.gz and qcow2.gz: big enough to look at the staging
    directory while the download is half done."""
    folder = tmp_path_factory.mktemp("big")
    data = os.urandom(8 * MIB)
    (folder / "big.raw").write_bytes(data)
    with gzip.open(folder / "big.raw.gz", "wb", compresslevel=1) as out:
        out.write(data)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(folder / "big.raw"),
                    str(folder / "big.qcow2")], check=True)
    with gzip.open(folder / "big.qcow2.gz", "wb", compresslevel=1) as out:
        out.write((folder / "big.qcow2").read_bytes())
    return folder, data


def _staged(staging: str) -> Tuple[int, bool]:
    """Bytes on disk under ``staging``, and whether a file there starts like a gzip file."""
    used, gzipped = 0, False
    for top, _, files in os.walk(staging):
        for name in files:
            try:
                with open(os.path.join(top, name), "rb") as handle:
                    used += os.fstat(handle.fileno()).st_blocks * 512
                    gzipped = gzipped or handle.read(2) == b"\x1f\x8b"
            except OSError:
                continue
    return used, gzipped


@pytest.mark.parametrize("name, bridges", [("big.raw", None), ("big.raw.gz", None), ("big.raw", ""),
                                           ("big.qcow2.gz", None)])
def test_cp_from_http_stages_at_most_one_uncompressed_copy(stack, big_images, env, tmp_path, name, bridges):
    """Raw images (compressed or not) go onto the volume as they download: half way through, the
    front-end's staging directory holds at most the first MiB (probed). Other formats are
    decompressed as they arrive: the compressed download is never stored."""
    folder, data = big_images
    seen = []

    def midway() -> None:  # the server has sent half of the file
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            seen.append(_staged(env["ONESP_STAGING_DIR"]))
            time.sleep(0.01)

    given = (folder / name).read_bytes()
    ds_template = {} if bridges is None else {"BRIDGE_LIST": bridges}
    if bridges == "":
        conf = tmp_path / "storpool.conf"
        conf.write_text("SP_OURID=9\n")
        env = dict(env, ONESP_STORPOOL_CONF=str(conf))
    with serve_directory(folder, midway=midway) as url:
        stdin = prepare_import(stack, folder, url + "/midway/" + name, ds_template=ds_template, size=8,
                               template={"MD5": hashlib.md5(given).hexdigest()})
        r = stack.ds("cp", "5", stdin=stdin, env=env)
    assert r.ok, r
    assert stack.volume("one-img-5")["size"] == 8 * MIB
    assert stack.read_volume("one-img-5", 8 * MIB) == data
    assert seen and not any(gzipped for _, gzipped in seen), seen
    if name.endswith(".raw") or name.endswith(".raw.gz"):
        assert max(used for used, _ in seen) <= MIB, seen
    assert stack.volume_names() == ["one-img-5"] and stack.attachments() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


def test_cp_of_a_streamed_raw_image_refuses_more_than_its_size_and_a_wrong_checksum(stack, big_images, env, web):
    """A compressed raw image is sized by the image's SIZE (ds stat found it): more data is refused;
    a wrong MD5 is found after the last byte; either way the volume is removed."""
    folder, _ = big_images
    with serve_directory(folder) as url:
        stdin = prepare_import(stack, folder, url + "/big.raw.gz", size=5)
        r = stack.ds("cp", "5", stdin=stdin, env=env)
        assert r.code != 0
        assert r.error_lines == ["ds cp: download %s/big.raw.gz onto %s on node2: bad input: %s/big.raw.gz is more than "
                                 "5 MiB, the size of the image (SIZE, found by ds stat)"
                                 % (url, stack.dev_dir / STAGING, url)]
        assert stack.volume_names() == [] and stack.attachments() == []
        stdin = prepare_import(stack, folder, url + "/big.raw", size=8, template={"MD5": "0" * 32})
        r = stack.ds("cp", "5", stdin=stdin, env=env)
        assert r.code != 0 and len(r.error_lines) == 1
        assert r.error_lines[0].startswith("ds cp: check the checksums of %s/big.raw: bad input: MD5 of" % url)
        assert stack.volume_names() == [] and stack.attachments() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []


@pytest.mark.parametrize("fmt", ["raw", "fixed-vpc", "vpc", "vdi"])
def test_cp_from_http_of_raw_vhd_and_vdi_byte_for_byte(stack, images, env, web, fmt):
    """A fixed VHD looks raw in its first MiB and is streamed: its footer, past the data, must not stay."""
    folder, data = images
    r = stack.ds("cp", "5", stdin=prepare_import(stack, folder, "%s/disk.%s" % (web, fmt)), env=env)
    assert r.ok, r
    assert stack.volume("one-img-5")["size"] == 4 * MIB
    assert stack.read_volume("one-img-5", 4 * MIB) == data + bytes(4 * MIB - len(data))
    assert stack.volume_names() == ["one-img-5"] and stack.attachments() == []
    assert os.listdir(env["ONESP_STAGING_DIR"]) == []

"""ds stat: size in MB of what cp would import, from files and URLs (snapshot sources: test_ds_cp_snapshot)."""

from __future__ import annotations

import bz2
import gzip
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from fixtures.web import serve_directory

MIB = 1024 * 1024
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 MiB + 1 byte raw image (4 MB) and 5 MiB virtual images in qcow2, vhdx, VHD (dynamic and
    fixed), VDI and bzip2-compressed qcow2."""
    path = tmp_path_factory.mktemp("stat-images")
    (path / "disk.raw").write_bytes(os.urandom(3 * MIB + 1))
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path / "big.raw"), "5M"], check=True)
    for fmt in ("qcow2", "vhdx"):
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(path / "big.raw"), str(path / ("big." + fmt))],
                       check=True)
    for name, fmt, options in (("big.vpc", "vpc", "force_size=on"), ("big.fixed-vpc", "vpc", "subformat=fixed,force_size=on"),
                               ("big.vdi", "vdi", "static=off")):
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, "-o", options, str(path / "big.raw"),
                        str(path / name)], check=True)
    (path / "big.qcow2.bz2").write_bytes(bz2.compress((path / "big.qcow2").read_bytes()))
    return path


def stat(stack, folder: Path, path: str, argv_form: bool = False):
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(folder), "STAGING_DIR": str(stack.root)})
    stdin = stack.ds_action(ds, image_path=path)
    return stack.ds("stat", stdin.decode(), "3") if argv_form else stack.ds("stat", "3", stdin=stdin)


@pytest.mark.parametrize("name, size", [("disk.raw", 4), ("big.qcow2", 5), ("big.vhdx", 5), ("big.qcow2.bz2", 5),
                                        ("big.vpc", 5), ("big.fixed-vpc", 5), ("big.vdi", 5)])
def test_stat_of_files(stack, folder, name, size, tmp_path):
    r = stat(stack, folder, str(folder / name), argv_form=name == "disk.raw")
    assert r.ok, r
    assert r.stdout == "%d\n" % size


def test_stat_refusals(stack, folder, tmp_path):
    secret = tmp_path / "elsewhere.raw"
    secret.write_bytes(b"x")
    r = stat(stack, folder, str(secret))
    assert r.code != 0 and len(r.error_lines) == 1
    assert "not allowed: copying image file %s" % secret in r.error_lines[0]
    r = stat(stack, folder, "relative/path.raw")
    assert r.error_lines == ["ds stat: bad input: image PATH 'relative/path.raw' is not an absolute path, an http(s) "
                             "URL or a snapshot source"]


@pytest.fixture
def web(folder) -> Iterator[str]:
    with serve_directory(folder) as url:
        yield url


def test_stat_of_urls(stack, folder, web, tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    env = {"ONESP_STAGING_DIR": str(staging)}
    ds = stack.put_datastore(100)
    for name, size in (("disk.raw", 4), ("big.qcow2", 5), ("big.vhdx", 5), ("big.qcow2.bz2", 5), ("big.vpc", 5),
                       ("big.fixed-vpc", 6), ("big.vdi", 5)):  # a fixed VHD over http: its Content-Length
        r = stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path="%s/%s" % (web, name)), env=env)
        assert r.ok, r
        assert r.stdout == "%d\n" % size, name
    log = stack.log_text()
    assert "the first MiB of %s/big.vhdx does not tell its size" % web in log
    assert "the first MiB of %s/big.qcow2 " % web not in log
    missing = stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=web + "/none.qcow2"), env=env)
    assert missing.error_lines == ["ds stat: inspect %s/none.qcow2: not found: cannot download %s/none.qcow2: "
                                   "HTTP 404 File not found" % (web, web)]
    assert os.listdir(staging) == []


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """512 MiB of zeros in about 500 KB: 32 gzip members of 16 MiB each (gunzip reads them as one)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.raw.gz"
    path.write_bytes(gzip.compress(bytes(16 * MIB), compresslevel=9) * 32)
    return path


def disk_use(folder: Path) -> int:
    """Bytes the files below ``folder`` take on disk (not their apparent size)."""
    used = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                used += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return used


def watched(action, folder: Path):
    """Run ``action()`` while sampling the disk use below ``folder``: (its result, the most seen)."""
    result, most = [], [0]
    thread = threading.Thread(target=lambda: result.append(action()))
    thread.start()
    while thread.is_alive():
        most[0] = max(most[0], disk_use(folder))
        time.sleep(0.02)
    thread.join()
    return result[0], most[0]


@pytest.mark.parametrize("source", ["file", "url"])
def test_stat_of_a_decompression_bomb_writes_next_to_nothing(stack, bomb, tmp_path, source):
    staging = tmp_path / "staging"
    staging.mkdir()
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(bomb.parent), "STAGING_DIR": str(staging)})
    with serve_directory(bomb.parent) as web:
        path = str(bomb) if source == "file" else web + "/" + bomb.name
        r, most = watched(lambda: stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=path)), staging)
    assert r.ok, r
    assert r.stdout == "512\n"
    assert most < bomb.stat().st_size + 8 * MIB, most  # the download itself, and no more than a few MiB besides
    assert os.listdir(staging) == []


def test_stat_of_a_bomb_beyond_the_datastores_free_space(stack, bomb, tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    ds = stack.b.datastore_xml(100, template={"SAFE_DIRS": str(bomb.parent), "STAGING_DIR": str(staging)},
                               free_mb=100, location=str(stack.ds_location))
    stack.oned.put("datastore", ds)
    r = stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=str(bomb)))
    assert r.error_lines == ["ds stat: inspect image file %s: bad input: %s once decompressed is more than 100 MiB, "
                             "the datastore's free space (FREE_MB)" % (bomb, bomb)]
    assert os.listdir(staging) == []


def test_stat_of_a_compressed_qcow2_reads_only_its_header(stack, tmp_path):
    """A 64 MiB qcow2 full of data, gzip-compressed: its size is in the first MiB, so no more is unpacked."""
    image = tmp_path / "full.qcow2"
    (tmp_path / "full.raw").write_bytes(os.urandom(MIB) * 64)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(tmp_path / "full.raw"), str(image)],
                   check=True)
    with gzip.open(tmp_path / "full.qcow2.gz", "wb", compresslevel=1) as out:
        out.write(image.read_bytes())
    staging = tmp_path / "staging"
    staging.mkdir()
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(tmp_path), "STAGING_DIR": str(staging)})
    r, most = watched(lambda: stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=str(image) + ".gz")),
                      staging)
    assert r.ok, r
    assert r.stdout == "64\n"
    assert most <= 2 * MIB, most


@pytest.mark.parametrize("where", ["slow", "slow-headers"])
def test_stat_gives_up_on_a_server_that_sends_a_byte_every_few_seconds(stack, folder, tmp_path, where):
    staging = tmp_path / "staging"
    staging.mkdir()
    ds = stack.put_datastore(100, template={"STAGING_DIR": str(staging)})
    with serve_directory(folder) as web:
        url = "%s/%s/big.qcow2" % (web, where)
        started = time.monotonic()
        r = stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=url), env={"ONESP_DOWNLOAD_TIMEOUT": "2"},
                     timeout=60)
    assert time.monotonic() - started < 10
    assert r.error_lines == ["ds stat: inspect %s: temporary failure: gave up on %s: less than 65536 bytes came in 2 "
                             "seconds (DOWNLOAD_TIMEOUT)" % (url, url)]
    assert os.listdir(staging) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:65536/big.qcow2", "http://[127.0.0.1/big.qcow2",
                                 "http://u:secret-pw@127.0.0.1:x/big.qcow2"])
def test_stat_of_a_malformed_url_is_one_bad_input_line(stack, url):
    ds = stack.put_datastore(100)
    r = stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=url))
    assert len(r.error_lines) == 1 and r.error_lines[0].startswith("ds stat: bad input: malformed URL http://...: ")
    assert "secret-pw" not in r.stderr + stack.log_text()


def test_stat_of_a_compressed_raw_url_never_stores_the_compressed_download(stack, tmp_path):
    """A gzip-compressed raw image has no header telling its size, so all of it is read; it is
    decompressed as it arrives: half way through, no gzip file but the first MiB (``head``, read
    first) lies in the staging directory."""
    files = tmp_path / "files"
    files.mkdir()
    with gzip.open(files / "disk.raw.gz", "wb", compresslevel=1) as out:
        out.write(os.urandom(6 * MIB))
    staging = tmp_path / "staging"
    staging.mkdir()
    found = []

    def midway() -> None:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            for top, _, names in os.walk(str(staging)):
                for name in names:
                    try:
                        with open(os.path.join(top, name), "rb") as handle:
                            if name != "head" and handle.read(2) == b"\x1f\x8b":  # head: its first MiB
                                found.append(name)
                    except OSError:
                        continue
            time.sleep(0.01)

    ds = stack.put_datastore(100)
    with serve_directory(files, midway=midway) as url:
        r = stack.ds("stat", "3", stdin=stack.ds_action(ds, image_path=url + "/midway/disk.raw.gz"),
                     env={"ONESP_STAGING_DIR": str(staging)})
    assert r.ok, r
    assert r.stdout == "6\n"
    assert found == []
    assert os.listdir(str(staging)) == []

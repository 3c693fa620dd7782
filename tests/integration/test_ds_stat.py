"""ds stat: size in MB of what cp would import, from files and URLs (snapshot sources: test_ds_cp_snapshot)."""

from __future__ import annotations

import bz2
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from fixtures.web import serve_directory

MIB = 1024 * 1024
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 MiB + 1 byte raw image (4 MB) and 5 MiB virtual images in qcow2, vhdx and bzip2-compressed qcow2."""
    path = tmp_path_factory.mktemp("stat-images")
    (path / "disk.raw").write_bytes(os.urandom(3 * MIB + 1))
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path / "big.raw"), "5M"], check=True)
    for fmt in ("qcow2", "vhdx"):
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(path / "big.raw"), str(path / ("big." + fmt))],
                       check=True)
    (path / "big.qcow2.bz2").write_bytes(bz2.compress((path / "big.qcow2").read_bytes()))
    return path


def stat(stack, folder: Path, path: str, argv_form: bool = False):
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(folder), "STAGING_DIR": str(stack.root)})
    stdin = stack.ds_action(ds, image_path=path)
    return stack.ds("stat", stdin.decode(), "3") if argv_form else stack.ds("stat", "3", stdin=stdin)


@pytest.mark.parametrize("name, size", [("disk.raw", 4), ("big.qcow2", 5), ("big.vhdx", 5), ("big.qcow2.bz2", 5)])
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
    for name, size in (("disk.raw", 4), ("big.qcow2", 5), ("big.vhdx", 5), ("big.qcow2.bz2", 5)):
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

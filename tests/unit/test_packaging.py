"""Building and installing the package: the build backend has nothing to warn about.

A warning of the backend (a deprecated pyproject form such as a license table) is what every
``pip install`` of onesp would print, and a deprecation becomes a failure when setuptools drops it.
The backend runs here as pip runs it, on a copy of the files a build reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = """
import sys
from setuptools import build_meta
print(getattr(build_meta, sys.argv[1])(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(str(REPO / name), str(copy / name))
    shutil.copytree(str(REPO / "lib"), str(copy / "lib"), ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return copy


def build(project: Path, hook: str, out: Path) -> Path:
    out.mkdir()
    # PYTHONDONTWRITEBYTECODE makes setuptools itself say it skips byte-compiling: not ours.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-W", "default", "-c", BUILD, hook, str(out)], cwd=str(project), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    noise = [line for line in (done.stdout + done.stderr).splitlines() if "warn" in line.lower()]
    assert noise == [], "\n".join(noise)
    return out / done.stdout.splitlines()[-1]


def test_the_wheel_builds_without_warnings(project, tmp_path):
    wheel = build(project, "build_wheel", tmp_path / "wheel")
    with zipfile.ZipFile(str(wheel)) as archive:
        metadata = archive.read("onesp-0.1.0.dist-info/METADATA").decode()
        names = archive.namelist()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "onesp/py.typed" in names and not [n for n in names if n.startswith(("tests/", "bench/"))]


def test_the_editable_install_builds_without_warnings(project, tmp_path):
    build(project, "build_editable", tmp_path / "editable")

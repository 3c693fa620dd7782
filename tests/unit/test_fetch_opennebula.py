"""scripts/fetch-opennebula and where the tests look for OpenNebula's files.

The script is run as a reader would run it, against a file:// mirror laid out like OpenNebula's
raw-file host (``<commit>/<path in OpenNebula/one>``), built from the files this machine
already has; the network is never used.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from fixtures.sim_oned import FETCHED, REPO, opennebula_candidates, opennebula_dir

SCRIPT = REPO / "scripts" / "fetch-opennebula"
LIST = REPO / "scripts" / "opennebula-files.txt"


def listed() -> List[Tuple[str, str, str]]:
    """(local path, commit, upstream path) of every listed file."""
    commits: Dict[str, str] = {}
    rows = []
    for line in LIST.read_text().splitlines():
        words = line.split()
        if words and words[0] == "tag":
            commits[words[1]] = words[2]
        elif words and words[0] == "file":
            rows.append((words[1], commits[words[2]], words[3]))
    return rows


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A copy of the listed files laid out as ``<commit>/<upstream path>``."""
    source = opennebula_dir()
    root = tmp_path / "mirror"
    for local, commit, upstream in listed():
        target = root / commit / upstream
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((source / local).read_bytes())
    return root


def fetch(*args: str, env: Dict[str, str] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT)] + list(args), capture_output=True, text=True, timeout=120,
                          env=env)


def test_the_list_names_every_folder_the_tests_read():
    folders = {local.split("/")[0] for local, _, _ in listed()}
    assert folders == {"xsd", "xsd-6.10", "xsd-7.2", "xsd-7.4", "etc-6.10.5", "etc-7.0.2", "etc-7.2.0", "etc-7.4.0"}
    assert len(listed()) == 57 * 3 + 52 + 4 * 2


def test_fetch_verifies_and_places_every_file(mirror, tmp_path):
    dest = tmp_path / "dest"
    done = fetch("--base-url", mirror.as_uri(), "--dest", str(dest))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "231 files fetched, 231 verified in %s\n" % dest
    source = opennebula_dir()
    for local, _, _ in listed():
        assert (dest / local).read_bytes() == (source / local).read_bytes(), local
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".")) == []
    again = fetch("--base-url", (tmp_path / "nowhere").as_uri(), "--dest", str(dest))
    assert (again.returncode, again.stdout) == (0, "0 files fetched, 231 verified in %s\n" % dest)
    check = fetch("--check", "--dest", str(dest))
    assert (check.returncode, check.stdout) == (0, "231 files verified in %s\n" % dest)


def test_a_corrupted_file_is_refused_and_nothing_is_placed(mirror, tmp_path):
    local, commit, upstream = next(row for row in listed() if row[0] == "xsd/vm.xsd")
    tampered = mirror / commit / upstream
    tampered.write_bytes(tampered.read_bytes().replace(b"<xs:element", b"<xs:element ", 1))
    dest = tmp_path / "dest"
    done = fetch("--base-url", mirror.as_uri(), "--dest", str(dest))
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fetch-opennebula: xsd/vm.xsd: refused, ") and "git blob id" in lines[0]
    assert list(dest.iterdir()) == []  # no file of the run, no staging folder


def test_a_missing_file_is_one_line(mirror, tmp_path):
    local, commit, upstream = listed()[-1]
    (mirror / commit / upstream).unlink()
    done = fetch("--base-url", mirror.as_uri(), "--dest", str(tmp_path / "dest"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("fetch-opennebula: %s: cannot download " % local) and done.stderr.count("\n") == 1


def test_check_names_what_is_missing(tmp_path):
    done = fetch("--check", "--dest", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr == ("fetch-opennebula: 231 of 231 files missing or not matching in %s (first: %s); "
                           "run scripts/fetch-opennebula\n" % (tmp_path, listed()[0][0]))


def test_search_order(monkeypatch, tmp_path):
    monkeypatch.delenv("ONESP_SHARED_DIR", raising=False)
    assert opennebula_candidates() == [FETCHED, REPO.parent / "shared" / "opennebula"]
    assert FETCHED == REPO / "tests" / "data" / "opennebula"
    monkeypatch.setenv("ONESP_SHARED_DIR", str(tmp_path))
    assert opennebula_candidates() == [tmp_path / "opennebula"]


def test_the_fetch_location_is_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", "tests/data/opennebula/xsd/vm.xsd"], cwd=str(REPO))
    assert ignored.returncode == 0


def test_tests_use_fetched_files_and_skip_with_one_reason_without(mirror, tmp_path):
    """A test needing the stock configuration passes on fetched files, and skips with the script's name
    when no location has them."""
    fetched = tmp_path / "fetched"
    assert fetch("--base-url", mirror.as_uri(), "--dest", str(fetched / "opennebula")).returncode == 0
    test = str(REPO / "tests" / "unit" / "test_autoconf.py")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", test]
    env = dict(os.environ, ONESP_SHARED_DIR=str(fetched))
    ran = subprocess.run(argv, capture_output=True, text=True, cwd=str(REPO), env=env, timeout=300)
    assert ran.returncode == 0 and " skipped" not in ran.stdout, ran.stdout[-2000:]
    env["ONESP_SHARED_DIR"] = str(tmp_path / "empty")
    ran = subprocess.run(argv, capture_output=True, text=True, cwd=str(REPO), env=env, timeout=300)
    reasons = {line.split(": ", 1)[1] for line in ran.stdout.splitlines() if line.startswith("SKIPPED")}
    assert ran.returncode == 0 and reasons == {
        "ONESP_SHARED_DIR is set and %s lacks OpenNebula's files: unset it and run scripts/fetch-opennebula "
        "(see README, Test data)" % (tmp_path / "empty" / "opennebula")}, ran.stdout[-2000:]

"""bench/run works end to end: ``--quick`` measures every action and section and writes the report.

Only the report's content is checked (tables complete, every run did its work, nothing
leaked); timings are never asserted on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench" / "run"
ACTIONS = ["tm clone", "tm ln", "tm mkimage", "tm mkswap", "tm context", "tm delete", "tm mv", "tm snap_create",
           "tm snap_revert", "tm resize", "tm monitor", "ds cp", "ds rm", "ds stat", "ds monitor"]
SECTIONS = ["## Targets", "## Issue 17: in-process and server mode side by side",
            "## 1. Per-action cost", "## 2. Scaling with the cluster", "## 3. Monitoring at scale",
            "## 4. Start-up", "## 5. Image import", "## 6. Parallelism",
            "## 7. With 2 ms of added latency per StorPool call",
            "## 8. Host commands over ssh: one shared connection per host", "## Targets missed, and why"]


def _missing_tools():
    have = {tool: shutil.which(tool) or any(Path(d, tool).exists() for d in ("/usr/sbin", "/sbin"))
            for tool in ("qemu-img", "genisoimage", "mkswap")}
    return [tool for tool, found in have.items() if not found]


pytestmark = pytest.mark.skipif(bool(_missing_tools()), reason="bench/run needs qemu-img, genisoimage and mkswap")


def _rows(doc: str, heading: str) -> list:
    """The body rows of the first table under ``heading``, as lists of cells."""
    lines = doc.split(heading, 1)[1].splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| "))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_quick_run_writes_every_section_with_every_action(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--output", str(out)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = out.read_text()
    for heading in SECTIONS:
        assert heading in doc, heading
    assert "bench/run --quick --output %s" % out in doc
    assert "This is a --quick run" in doc
    assert re.search(r"\| CPUs \(nproc\) \| \d+ \|", doc)

    per_action = _rows(doc, "## 1. Per-action cost")
    assert [row[0] for row in per_action] == ACTIONS
    for row in per_action:
        name, median, p90, cpu, sp_calls, _, rpc_calls, _, verdict = row
        assert float(median) > 0 and float(p90) >= float(median) and float(cpu) > 0, row
        assert sp_calls.isdigit() and rpc_calls.isdigit(), row
        assert verdict == "yes" or verdict.startswith("**no**"), row
    by_name = {row[0]: row for row in per_action}
    assert by_name["ds stat"][4] == "0"  # a local file: no StorPool call
    assert by_name["tm clone"][4] != "0" and by_name["tm monitor"][6] == "1"

    both = _rows(doc, "## Issue 17: in-process and server mode side by side")
    assert [row[0] for row in both] == ACTIONS
    for row in both:
        assert all(float(cell) > 0 for cell in row[1:9]), row  # both modes measured on both sizes
        assert row[-1] == "yes" or row[-1].startswith("**no**: "), row
    assert re.search(r"\| server \| 4 \| [\d.]+ \| [\d.]+ \| [\d.]+x \| 0 \| nothing \|", doc)
    assert "the 1-minute load sampled every 5 s during the run peaked at" in doc

    scaling = _rows(doc, "## 2. Scaling with the cluster")
    assert [row[0] for row in scaling] == ACTIONS
    assert all(re.fullmatch(r"\d+ / \d+", row[6]) for row in scaling)
    assert [row[0] for row in _rows(doc, "## 7. With")] == ACTIONS

    assert "5 VMs, 15 DISK_SIZE and 150 SNAPSHOT_SIZE entries reported" in doc
    assert "every imported volume was read back and matched the raw file's SHA-256" in doc
    assert re.search(r"4 tm clone of image 5 onto 4 VMs, .*: 0 failed; leaked .*: nothing\.", doc)
    assert "imported: **none**" in doc  # no forbidden module on the start-up path

    ssh = doc.split("## 8. Host commands over ssh", 1)[1].split("\n## ", 1)[0]
    if "Not measured: the real sshd" not in ssh:  # sshd started: every way and both actions measured
        commands = _rows(doc, "## 8. Host commands over ssh")
        assert [row[0].split(" ")[0] for row in commands] == ["shared", "no", "first"]
        assert [row[3] for row in commands] == ["0", "1", "1"]  # sshd logins per command
        assert all(float(row[1]) > 0 for row in commands)
        actions = _rows(ssh, "Whole actions in-process")
        assert [row[0] for row in actions] == ["tm clone", "tm delete"]
        assert all(re.fullmatch(r"0 / [1-9]\d*", row[4]) for row in actions), actions


def test_unknown_action_is_refused_before_anything_starts(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, str(BENCH), "--actions", "tm clone,tm teleport", "--output", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown action(s) tm teleport" in proc.stderr
    assert not out.exists()

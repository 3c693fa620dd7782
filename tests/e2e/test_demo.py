"""The README's first command: the demo runs a VM's whole life and every check passes."""

import subprocess
import sys


def test_demo_runs_to_exit_zero(tmp_path):
    r = subprocess.run([sys.executable, "-m", "onesp", "demo", "--dir", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert len(lines) == 16 and all(" ok " in line for line in lines), r.stdout
    assert "all checks passed" in r.stdout

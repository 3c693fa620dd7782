"""Section 8 of docs/benchmarks.md (bench/ssh_reuse.py, bench/report.py ``ssh``): host commands over
a real sshd with and without the shared connection, or why they could not be measured."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import report, ssh_reuse  # noqa: E402
from bench.ssh_reuse import SshReuse, Timings  # noqa: E402


def _section(result: SshReuse) -> str:
    return "\n".join(report.ssh(SimpleNamespace(ssh=result)))  # type: ignore[arg-type]


def test_without_sshd_the_section_says_why_instead_of_numbers(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("onesp.sim.sshd.SSHD", str(tmp_path / "no-sshd"))
    seen = []
    result = ssh_reuse.measure(tmp_path / "ssh", 2, seen.append)
    text = _section(result)
    assert text.startswith("## 8. Host commands over ssh: one shared connection per host")
    assert "Not measured: the real sshd (`onesp.sim.sshd`) could not start on this machine: OpenSSH (%s, ssh, " \
           "ssh-keygen) is not installed." % (tmp_path / "no-sshd") in text
    assert "|" not in text and "ms" not in text  # no table, no number
    assert seen == ["ssh reuse: not measured: OpenSSH (%s, ssh, ssh-keygen) is not installed" % (tmp_path / "no-sshd")]


def test_the_section_shows_each_way_and_the_saving() -> None:
    command = {"shared": Timings([0.010, 0.012, 0.011], [0, 0, 0]),
               "unshared": Timings([0.200, 0.220, 0.210], [1, 1, 1]),
               "first": Timings([0.230, 0.240, 0.250], [1, 1, 1])}
    actions = {"tm clone": {"shared": Timings([0.1, 0.1], [0, 0]), "unshared": Timings([0.3, 0.3], [1, 1])}}
    text = _section(SshReuse(command=command, actions=actions))
    assert "| shared connection, already up (the default: ControlMaster in `<LOCK_DIR>/ssh`) | 11 | 12 | 0 |" in text
    assert "| no sharing (`-o ControlMaster=no` in SSH) | 210 | 218 | 1 |" in text
    assert "| first command to the host (it sets the shared connection up) | 240 | 248 | 1 |" in text
    assert "Sharing saves **199 ms per host command** (19x faster)" in text
    assert "240 ms (+30 ms against a command without sharing)" in text
    assert "| tm clone | 100 | 300 | 200 | 0 / 1 |" in text
    assert "Not measured" not in text

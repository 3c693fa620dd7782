"""Persistence across restarts, in-process and as the `serve` command in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from onesp.sim.storpool import StorPoolSim
from onesp.sim.storpool.command import parse_clients, storpool
from onesp.sim.storpool.control import SimControl

MIB = 1 << 20


def ok(ctl, method, call, body=None):
    resp = ctl.api(method, call, body)
    assert resp.ok, resp.body
    return resp.data


def test_restart_keeps_objects_attachments_and_bytes(tmp_path):
    data, dev = tmp_path / "data", tmp_path / "dev"
    with StorPoolSim(data, dev, token="7") as sim:
        ctl = SimControl.from_env(sim.env)
        ok(ctl, "POST", "VolumeTemplateCreate", {"name": "t", "replication": 2})
        ok(ctl, "POST", "VolumeCreate", {"name": "v", "size": 4 * MIB, "template": "t", "tags": {"a": "b"}})
        ok(ctl, "POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "rw": [5]}]})
        with open(dev / "v", "r+b") as fh:
            fh.seek(MIB)
            fh.write(b"persistent")
        ok(ctl, "POST", "VolumeSnapshot/v", {"name": "s", "deleteAfter": 600})
        ok(ctl, "POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "ro": [6]}]})
        ctl.set_open("v", 5)
        before = ctl.state(with_bytes=True)
        generation = ctl.api("GET", "VolumesList").body["generation"]
    os.unlink(dev / "v")  # a stale device directory is repaired at start

    with StorPoolSim(data, dev, token="7") as sim:
        ctl = SimControl.from_env(sim.env)
        assert ctl.state(with_bytes=True) == before
        assert ctl.api("GET", "VolumesList").body["generation"] == generation
        with open(dev / "v", "rb") as fh:
            fh.seek(MIB)
            assert fh.read(10) == b"persistent"
        assert [a["pos"] for a in ok(ctl, "GET", "AttachmentsList")] == [0, 0]
        ok(ctl, "POST", "VolumeCreate", {"name": "w", "size": MIB})
        ok(ctl, "POST", "VolumesReassignWait", {"reassign": [{"volume": "w", "rw": [5]}]})
        assert {(a["volume"], a["pos"]) for a in ok(ctl, "GET", "AttachmentsList") if a["client"] == 5} == {
            ("v", 0), ("w", 1)}
        assert ctl.api("POST", "VolumesReassignWait", {"reassign": [{"volume": "v", "detach": [5]}]}).error
        ctl.advance_clock(601)
        assert ok(ctl, "GET", "SnapshotsList") == []


def test_serve_command_runs_until_sigterm(tmp_path):
    env_file = tmp_path / "sp.env"
    env = dict(os.environ, SP_AUTH_TOKEN="tok-never-logged-4711")
    cmd = [sys.executable, "-m", "onesp.sim.storpool", "serve", "--listen", "127.0.0.1:0",
           "--data", str(tmp_path / "data"), "--dev-dir", str(tmp_path / "dev"), "--clients", "1-4,9",
           "--env-file", str(env_file), "--print-env"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not env_file.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert values["SP_AUTH_TOKEN"] == "tok-never-logged-4711" and oct(env_file.stat().st_mode & 0o777) == "0o600"
        ctl = SimControl.from_env(values)
        assert sorted(ok(ctl, "GET", "ServicesList")["clients"]) == ["1", "2", "3", "4", "9"]
        ok(ctl, "POST", "VolumeCreate", {"name": "v", "size": MIB})
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "SP_API_HTTP_PORT=%s" % values["SP_API_HTTP_PORT"] in out
    assert "tok-never-logged" not in err  # the token is never logged
    with StorPoolSim(tmp_path / "data", tmp_path / "dev", token="1") as sim:
        assert [v["name"] for v in ok(SimControl.from_env(sim.env), "GET", "VolumesList")] == ["v"]


def test_cli_help_and_bad_options(tmp_path):
    result = CliRunner().invoke(storpool, ["serve", "--help"])
    assert result.exit_code == 0 and "--dev-dir" in result.output
    assert parse_clients("1-3, 7,9-10") == [1, 2, 3, 7, 9, 10]
    data = tmp_path / "d"
    for option, message in (("--clients=0-2", "1..4095"), ("--listen=nowhere", "HOST:PORT")):
        bad = CliRunner().invoke(storpool, ["serve", "--data", str(data), "--dev-dir", str(tmp_path / "e"), option])
        assert bad.exit_code == 2 and message in bad.output
    assert not data.exists()

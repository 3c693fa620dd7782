"""``python -m onesp.sim.oned serve`` in the foreground: serves, prints its environment, stops on signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from onesp.one import OneClient
from onesp.sim.oned.builders import vm_xml


def start(state, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "onesp.sim.oned", "serve", "--listen", "127.0.0.1:0", "--state", str(state),
         "--auth", "oneadmin:cli-secret", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def read_env(process) -> dict:
    env = {}
    for _ in range(2):
        key, _, value = process.stdout.readline().strip().partition("=")
        env[key] = value
    return env


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_on_signals(tmp_path, signum):
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "42.xml").write_text(vm_xml(42, name="from-cli"))
    process = start(tmp_path, "--version", "6.10.5")
    try:
        env = read_env(process)
        assert env["ONE_XMLRPC"].startswith("http://127.0.0.1:") and env["ONE_AUTH"] == str(tmp_path / "one_auth")
        assert oct(os.stat(env["ONE_AUTH"]).st_mode & 0o777) == "0o600"
        client = OneClient.from_environment(env)
        assert client.vm(42).name == "from-cli" and client.version() == "6.10.5"
        started = time.monotonic()
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_rejects_bad_arguments(tmp_path):
    for args in (["--listen", "nowhere"], ["--auth", "no-colon"]):
        process = subprocess.run(
            [sys.executable, "-m", "onesp.sim.oned", "serve", "--state", str(tmp_path)] + args,
            capture_output=True, text=True, timeout=20,
        )
        assert process.returncode == 2 and "Invalid value" in process.stderr

"""The StorPool API token never shows: not in a log line, an error line, a file, or any argv.

One test runs a representative set of actions and commands — successes, failures, rollbacks,
a refused token, an unreachable API, a token that only the datastore template carries,
``onesp run -v``, ``onesp audit``, ``onesp doctor`` — while a background thread samples the
command line of every process (``/proc/*/cmdline``) and the small files under the temporary
directories. Emulator latency keeps ds cp (qemu-img, dd on the bridge) running long enough
to be sampled. Afterwards every output, the log file and every file under the directories
used are searched for each token, raw and base64-encoded at any alignment.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Set

import pytest

from onesp.sim.storpool import new_token

MIB = 1024 * 1024


def token_forms(token: str) -> List[bytes]:
    """The token's bytes, and the part of its base64 encoding fixed at each of the 3 alignments."""
    raw = token.encode()
    forms = [raw]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw + b"\0\0\0")
        first = -(-shift // 3)  # first 3-byte group made of token bytes only
        last = (shift + len(raw)) // 3  # first group that reaches past the token
        if last > first:
            forms.append(encoded[4 * first:4 * last])
    return forms


def leaks(data: bytes, tokens: Iterable[str]) -> List[str]:
    return [token for token in tokens if any(form in data for form in token_forms(token))]


class Sampler:
    """Collects the argv of every process on the machine and the small files under ``roots``
    until stopped, so what exists only while an action runs is seen too."""

    def __init__(self, roots: List[Path], tokens: List[str]) -> None:
        self.roots = roots
        self.tokens = tokens
        self.argvs: Set[bytes] = set()
        self.file_leaks: Set[str] = set()
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open("/proc/%s/cmdline" % pid, "rb") as handle:
                            self.argvs.add(handle.read())
                    except OSError:
                        pass
            if self.sweeps % 10 == 0:
                for path in files_under(self.roots, limit=256 * 1024):
                    if leaks(read(path), self.tokens):
                        self.file_leaks.add(str(path))
            self.sweeps += 1


def files_under(roots: List[Path], limit: int = 0) -> Iterator[Path]:
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = Path(directory) / name
                try:
                    if path.is_file() and not path.is_symlink() and (not limit or path.stat().st_size <= limit):
                        yield path
                except OSError:
                    continue


def read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def onesp(stack, env: Dict[str, str], *argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onesp", *argv], input=stdin, capture_output=True,
                          env=dict(stack.env, **env), timeout=120)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to sample process command lines")
def test_no_token_in_logs_errors_files_or_argv(stack, tmp_path):
    b = stack.b
    wrong_token, datastore_token = new_token(), new_token()
    tokens = [stack.token, wrong_token, datastore_token]
    temp = stack.root / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp), "ONESP_STAGING_DIR": str(temp)}
    images = stack.root / "images"
    images.mkdir()
    (images / "disk.raw").write_bytes(os.urandom(MIB) + bytes(7 * MIB))
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(images)})
    stack.put_image(5, data=b"five")
    stack.put_image(6, persistent=True)
    stack.put_vm(7, disks=[b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16),
                           b.volatile_disk(2, 16)])
    stack.put_vm(8, disks=[b.image_disk(0, 5, size=16)])
    (stack.root / "context.sh").write_text("HOSTNAME='secret-test'\n")
    disk = {n: stack.disk_path("node1", 7, n) for n in range(4)}
    cp_action = stack.ds_action(ds, b.image_xml(8, source="", path=str(images / "disk.raw"), state=4, size=8))
    # The token only in the datastore template of the driver action (a per-datastore token): right, then wrong.
    ds_with_token = b.datastore_xml(100, template={"SAFE_DIRS": str(images)}, sp={"AUTH_TOKEN": stack.token})
    ds_wrong_token = b.datastore_xml(100, sp={"AUTH_TOKEN": datastore_token})
    results = []
    sampler = Sampler([stack.root, Path(stack.sp_sim.data_dir), stack.dev_dir, Path(stack.oned.state_dir)], tokens)
    with sampler:
        for call in ("VolumeCreate", "VolumesReassignWait", "VolumeUpdate"):
            stack.ctl.set_latency(call, 300)
        results.append(stack.ds("cp", "8", stdin=cp_action, env=env))
        for call in ("VolumeCreate", "VolumesReassignWait", "VolumeUpdate"):
            stack.ctl.set_latency(call, 0)
        results += [
            stack.ds("stat", "0", stdin=stack.ds_action(ds, image_path=str(images / "disk.raw")), env=env),
            stack.ds("monitor", "100", stdin=stack.ds_action(ds), env=env),
            stack.ds("mkfs", "9", stdin=stack.ds_action(ds, b.image_xml(9, type="DATABLOCK", source="", state=4,
                                                                         size=4, fs="ext4")), env=env),
            stack.tm("clone", "fe:one-ds-100/one-img-5", disk[0], "7", "100", env=env),
            stack.tm("ln", "fe:one-ds-100/one-img-6", disk[1], "7", "100", env=env),
            stack.tm("mkimage", "16", "raw", disk[2], "7", "101", env=env),
            stack.tm("context", str(stack.root / "context.sh"), disk[3], "7", "101", env=env),
            stack.tm("snap_create", disk[0], "0", "7", "100", env=env),
            stack.tm("resize", disk[0], "32", "7", "100", env=env),
            # the token only in the document, a wrong one in the environment
            stack.ds("monitor", "100", stdin=stack.ds_action(ds_with_token), env=dict(env, SP_AUTH_TOKEN=wrong_token)),
        ]
        assert [r.code for r in results] == [0] * len(results), [str(r) for r in results if not r.ok]
        stack.ctl.inject_fault("VolumeCreate", error="internalError", descr="token %s refused" % stack.token)
        stack.ctl.inject_fault("VolumesReassignWait", error="busy", when="after")
        failures = [
            stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 8, 0), "8", "100", env=env),
            stack.tm("delete", disk[0], "7", "100", env=env),  # fails after its detach: rolled back
            stack.ds("monitor", "100", stdin=stack.ds_action(ds), env=dict(env, SP_AUTH_TOKEN=wrong_token)),
            stack.ds("monitor", "100", stdin=stack.ds_action(ds_wrong_token), env=env),
            stack.tm("resize", disk[0], "64", "7", "100", env=dict(env, SP_API_HTTP_PORT="9")),
            stack.ds("cp", "8", stdin=b"not a driver action", env=env),
        ]
        assert all(r.code != 0 and len(r.error_lines) == 1 for r in failures), [str(r) for r in failures]
        assert stack.ctl.faults() == []  # both injected failures were met
        commands = [
            onesp(stack, env, "run", "-v", "tm", "resize", disk[0], "48", "7", "100"),
            onesp(stack, env, "run", "-v", "tm", "resize", "node1:/x", "1", "7", "100"),
            onesp(stack, dict(env, SP_AUTH_TOKEN=wrong_token), "run", "-v", "ds", "monitor", "100",
                  stdin=stack.ds_action(ds)),
            onesp(stack, env, "audit"),
            onesp(stack, env, "audit", "--json"),
            onesp(stack, env, "doctor", "--oned-conf", str(tmp_path / "oned.conf"), "--vmm-execrc",
                  str(tmp_path / "vmm_execrc"), "--remotes", str(tmp_path / "remotes")),
            onesp(stack, dict(env, SP_AUTH_TOKEN=wrong_token), "doctor", "--json", "--oned-conf",
                  str(tmp_path / "oned.conf")),
        ]
        assert commands[0].returncode == 0 and b"storpool: POST VolumeUpdate" in commands[0].stderr, commands[0]
    outputs = [(r.argv, (r.stdout + r.stderr).encode()) for r in results + failures]
    outputs += [(c.args, c.stdout + c.stderr) for c in commands]
    assert [(argv, leaks(text, tokens)) for argv, text in outputs if leaks(text, tokens)] == []
    log = stack.log_file.read_bytes()
    assert b"ds_sp_cp" in log and b"tm_sp_clone" in log and b"undo: " in log  # the log holds the runs above
    assert leaks(log, tokens) == []
    assert sorted(sampler.file_leaks) == []
    files = list(files_under(sampler.roots))
    assert [str(path) for path in files if leaks(read(path), tokens)] == []
    assert [argv for argv in sampler.argvs if leaks(argv, tokens)] == []
    seen = b"\n".join(sampler.argvs)
    assert b"datastore/storpool/cp" in seen and (b"qemu-img" in seen or b"dd\0" in seen), "the sampler saw no action"

"""A real OpenSSH server on 127.0.0.1, for the tests of host commands over ssh and the benchmark.

``running_sshd(root)`` makes a host key and a user key in ``root``, starts sshd on an
ephemeral port with StrictModes off and its own authorized_keys, waits for its banner, logs
in once, and stops it at the end. Run as root, sshd insists on its privilege separation
directory /run/sshd; when that is missing it runs in a private mount namespace where a
directory of ``root`` stands in for /run (nothing on the machine changes). When sshd cannot
start or nobody can log in, ``SshdUnavailable`` says why: the tests skip with that reason,
the benchmark's report prints it instead of numbers.

Used by tests/security/test_real_ssh.py (the ``sshd`` fixture) and bench/ssh_reuse.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, List

SSHD = "/usr/sbin/sshd"
#: sshd logs one such line per authenticated connection (a command sent over a shared
#: connection makes none).
_LOGIN = b"Accepted publickey for "


class SshdUnavailable(Exception):
    """sshd is not installed, did not start, or refused the login: the reason, in one line."""


@dataclass(frozen=True)
class SshServer:
    port: int
    key: Path  # the user's private key
    control: Path  # ControlPath of the connection ``command`` shares
    log: Path  # sshd's own log (-e)

    @property
    def command(self) -> str:
        """The SSH setting (OpenNebula's SSH_CMD style) that reaches this server; one connection is
        shared by the commands (ControlMaster), as many installations configure it."""
        return self.command_for(self.port) + " -o ControlMaster=auto -o ControlPath=%s -o ControlPersist=60" % (
            self.control)

    def command_for(self, port: int) -> str:
        """The SSH setting for ``port`` with no connection sharing of its own (another port: a host
        nobody answers on)."""
        return ("ssh -F /dev/null -p %d -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10" % (port, self.key))

    def logins(self) -> int:
        """Connections sshd has authenticated so far (each one a key exchange and a login)."""
        return self.log.read_bytes().count(_LOGIN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (at the time of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _config(root: Path, port: int) -> Path:
    path = root / "sshd_config"
    path.write_text("\n".join([
        "Port %d" % port, "ListenAddress 127.0.0.1", "HostKey %s" % (root / "host_key"),
        "PidFile %s" % (root / "sshd.pid"), "AuthorizedKeysFile %s" % (root / "authorized_keys"),
        "StrictModes no", "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin prohibit-password", "MaxStartups 50",
        # bash sources ~/.bashrc for ssh commands when SHLVL says it is the first shell: the login
        # user's rc files (slow, maybe chatty) are not what the tests and the benchmark are about.
        "SetEnv SHLVL=1", "",
    ]))
    return path


def _argv(root: Path, config: Path) -> List[str]:
    argv = [SSHD, "-D", "-e", "-f", str(config)]
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        if shutil.which("unshare") is None:
            raise SshdUnavailable("sshd as root needs /run/sshd, which is missing, and unshare is not installed")
        (root / "run" / "sshd").mkdir(parents=True)
        argv = ["unshare", "-m", "sh", "-c", 'mount --bind "$1" /run && shift && exec "$@"', "sh",
                str(root / "run")] + argv
    return argv


def _stop(server: "subprocess.Popen[bytes]") -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextlib.contextmanager
def running_sshd(root: Path) -> Iterator[SshServer]:
    """sshd serving 127.0.0.1 from the keys and configuration it makes in ``root`` (an existing,
    empty directory), for as long as the ``with`` lasts; raises ``SshdUnavailable`` before
    yielding when it cannot be used."""
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        raise SshdUnavailable("OpenSSH (%s, ssh, ssh-keygen) is not installed" % SSHD)
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True,
                       stdin=subprocess.DEVNULL)
    (root / "authorized_keys").write_bytes((root / "user_key.pub").read_bytes())
    port = free_port()
    argv = _argv(root, _config(root, port))
    control = tempfile.mkdtemp(prefix="onesp-ssh-")  # short: a unix socket path has ~100 bytes
    log: IO[bytes] = open(root / "sshd.log", "wb")
    try:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            handle = SshServer(port, root / "user_key", Path(control) / "%C", root / "sshd.log")
            _wait_and_log_in(server, handle)
            yield handle
            subprocess.run(handle.command.split() + ["-O", "exit", "127.0.0.1"], capture_output=True, timeout=30)
        finally:
            _stop(server)
    finally:
        log.close()
        shutil.rmtree(control, ignore_errors=True)


def _wait_and_log_in(server: "subprocess.Popen[bytes]", handle: SshServer) -> None:
    deadline = time.monotonic() + 10
    while not _banner(handle.port):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SshdUnavailable("sshd did not start: %s" % handle.log.read_text(errors="replace").strip())
        time.sleep(0.05)
    probe = subprocess.run(handle.command.split() + ["-o", "BatchMode=yes", "127.0.0.1", "true"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    if probe.returncode != 0:
        raise SshdUnavailable("cannot log in to the test sshd: %s" % probe.stderr.decode(errors="replace").strip())

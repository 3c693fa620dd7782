"""Commands on hypervisor hosts, as argv lists, never as pasted shell strings.

A command is a list of arguments. Over ssh the remote login shell receives one
string, so every argument is quoted with ``shlex.quote`` and a short sequence of
commands is joined with ``&&``: nothing from a name, a path or a template value
can ever be read by that shell as syntax. The local runner (``HOST_EXEC=local``,
for tests and the demo) hands exactly the same string to ``sh -c``, so tests run
the quoting that production uses.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import signal
import subprocess
from typing import IO, TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .configfiles import local_host_dirs
from .errors import BadInput, HostError
from .naming import unique_token

if TYPE_CHECKING:
    from .config import Config

Argv = Sequence[str]
#: What a command reads on stdin: bytes, or an open binary file streamed to it (image data).
Stdin = Optional[Union[bytes, IO[bytes]]]
_HOSTNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_SLASHES = re.compile(r"/+")
_VM_DIR = re.compile(r"/\d+/\d+\Z")


def check_host(name: str) -> str:
    """Host names reach ssh's argv: letters, digits, ``.``, ``-``, ``_``; never starting with ``-``."""
    if not isinstance(name, str) or not _HOSTNAME.match(name) or len(name) > 253:
        raise BadInput("invalid host name %r" % (name,))
    return name


def check_path(path: str) -> str:
    """A host path from oned: absolute, normalised, no ``..``, no control characters."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise BadInput("invalid path %r: not absolute" % (path,))
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise BadInput("invalid path %r: control characters" % (path,))
    parts = path.split("/")
    if ".." in parts or "." in parts:
        raise BadInput("invalid path %r: relative components" % (path,))
    normal = _SLASHES.sub("/", path)
    return normal.rstrip("/") or "/"


def script(commands: Sequence[Argv]) -> str:
    """One shell string running ``commands`` in order, stopping at the first failure."""
    if not commands:
        raise ValueError("no command")
    return " && ".join(" ".join(shlex.quote(str(a)) for a in argv) for argv in commands)


class Host:
    """One hypervisor (or bridge) host reached through a runner."""

    def __init__(self, name: str, runner: "Runner", timeout: float = 60.0) -> None:
        self.name = check_host(name)
        self.runner = runner
        self.timeout = timeout

    def __repr__(self) -> str:
        return "Host(%s)" % self.name

    def run(self, *commands: Argv, stdin: Stdin = None, timeout: Optional[float] = None,
            what: Optional[str] = None) -> str:
        """Run the commands in order on the host; return stdout; raise HostError on failure.

        A SIGTERM meanwhile stops the commands (their whole process group) and goes on as
        ``Interrupted``.
        """
        text = script(commands)
        label = what or " ".join(commands[0][:2])
        try:
            proc = self.runner(self.name, text, stdin, timeout or self.timeout)
        except subprocess.TimeoutExpired as exc:
            raise HostError(self.name, label, "timed out after %ds" % (timeout or self.timeout)) from exc
        except OSError as exc:
            raise HostError(self.name, label, exc.strerror or str(exc)) from exc
        if proc.returncode != 0:
            first = next((ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()), "")
            raise HostError(self.name, label, first[:300], proc.returncode)
        return proc.stdout.decode("utf-8", "replace")

    # -- helpers the actions use -------------------------------------------------------------------
    def symlink(self, target: str, link: str, monitor_marker: Optional[str] = None) -> Optional[str]:
        """Make ``link`` point at ``target`` atomically (create-then-rename), creating its directory.

        Also writes the ``<link>.monitor`` marker the addon keeps next to each disk and, when
        ``monitor_marker`` is given (system datastore not shared), ``<sysds>/.monitor``.
        Returns what the link pointed at before (None if it did not exist), so callers can undo.
        """
        target, link = check_path(target), check_path(link)
        directory = posixpath.dirname(link)
        temporary = "%s.onesp-tmp.%s" % (link, unique_token(4))  # unique: two runs at once must not collide
        commands: List[Argv] = [
            ["sh", "-c", 'readlink -- "$1" || true', "sh", link],
            ["mkdir", "-p", "--", directory],
            ["ln", "-sfn", "--", target, temporary],
            ["mv", "-Tf", "--", temporary, link],
            ["sh", "-c", 'printf "storpool\\n" > "$1"', "sh", link + ".monitor"],
        ]
        if monitor_marker:
            marker = posixpath.join(posixpath.dirname(directory), ".monitor")
            commands.append(["sh", "-c", 'printf "%s\\n" "$2" > "$1"', "sh", marker, monitor_marker])
        previous = self.run(*commands, what="symlink %s" % link).strip()
        return previous or None

    def remove(self, path: str) -> None:
        """Remove exactly one file or symlink (and its ``.monitor`` marker); absent is fine."""
        path = check_path(path)
        self.run(["rm", "-f", "--", path, path + ".monitor"], what="remove %s" % path)

    def unlink_disk(self, path: str) -> None:
        """Remove a disk link made by ``symlink`` (and its marker), and its directory if that is
        now empty: what a failed first deploy made, it takes back entirely."""
        path = check_path(path)
        self.run(["rm", "-f", "--", path, path + ".monitor"],
                 ["sh", "-c", 'rmdir -- "$1" 2>/dev/null || true', "sh", posixpath.dirname(path)],
                 what="remove %s" % path)

    def remove_tree(self, path: str) -> None:
        """Remove a VM directory (``.../<sysds>/<vmid>``); refuses anything shallower."""
        path = check_path(path)
        if path.count("/") < 3 or not _VM_DIR.search(path):
            raise BadInput("refusing to remove %r: not a VM directory" % path)
        self.run(["rm", "-rf", "--", path], what="remove %s" % path)

    def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` through a temporary name, so readers never see half a file."""
        path = check_path(path)
        temporary = "%s.onesp-tmp.%s" % (path, unique_token(4))
        self.run(["mkdir", "-p", "--", posixpath.dirname(path)], ["dd", "of=" + temporary, "status=none"],
                 ["mv", "-f", "--", temporary, path], stdin=data, what="write %s" % path)

    def exists(self, path: str) -> bool:
        path = check_path(path)
        out = self.run(["sh", "-c", 'if [ -e "$1" ] || [ -L "$1" ]; then echo yes; else echo no; fi', "sh", path],
                       what="test %s" % path)
        return out.strip() == "yes"

    def readlink(self, path: str) -> Optional[str]:
        path = check_path(path)
        out = self.run(["sh", "-c", 'readlink -- "$1" || true', "sh", path], what="readlink %s" % path)
        return out.strip() or None

    def mkswap(self, device: str, mkswap: str = "mkswap") -> None:
        self.run(shlex.split(mkswap) + ["--", check_path(device)], what="mkswap %s" % device)


Runner = Callable[[str, str, Stdin, float], "subprocess.CompletedProcess[bytes]"]


def _stdin_arguments(stdin: Stdin) -> Tuple[Optional[bytes], Union[int, IO[bytes]]]:
    """(bytes to write, the command's stdin): bytes are written to the command whole; a file is
    handed over as its stdin (no copy in memory)."""
    if stdin is None or isinstance(stdin, (bytes, bytearray)):
        return bytes(stdin or b""), subprocess.PIPE
    return None, stdin


def _run_group(argv: List[str], stdin: Stdin, timeout: float,
               env: Optional[Dict[str, str]] = None) -> "subprocess.CompletedProcess[bytes]":
    """Run ``argv`` in a process group of its own, and end the whole group if we stop waiting.

    ``sh -c`` forks the commands it runs, so killing only the shell (what a plain timeout
    does) would leave a conversion or a dd running after the action gave up, was timed out
    or got SIGTERM. The group is sent SIGTERM, then SIGKILL, before the exception goes on.
    """
    data, handle = _stdin_arguments(stdin)
    proc = subprocess.Popen(argv, stdin=handle, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except BaseException:
        _end_group(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _end_group(proc: "subprocess.Popen[bytes]") -> None:
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


#: Seconds an idle shared ssh connection to a host stays open after its last command.
CONTROL_PERSIST = 60
#: ssh adds up to 17 characters to a ControlPath while it sets the master up; a Unix socket path holds 107.
_MAX_CONTROL_DIR = 107 - 17 - 1 - 40


def connection_dir(cfg: Config) -> Optional[str]:
    """``<LOCK_DIR>/ssh``, where ssh keeps one shared connection per host (ControlMaster), so an
    action pays its own round trips and not a key exchange per command; None (no sharing)
    when the directory is not private to this user or its path is too long for a socket."""
    from . import locks
    from .errors import ConfigError

    lock_dir = cfg.LOCK_DIR
    directory = os.path.join(lock_dir, "ssh")
    if not lock_dir or len(directory) > _MAX_CONTROL_DIR:
        return None
    try:
        os.close(locks.private_directory(lock_dir))  # checked first: the subdirectory is made inside it
        os.close(locks.private_directory(directory))
    except ConfigError:
        return None
    return directory


def _sharing(control_dir: Optional[str]) -> List[str]:
    """ssh options sharing one connection per host in ``control_dir``. They come after the SSH
    setting's own: ssh takes an option's first value, so an administrator's ControlPath or
    ``-o ControlMaster=no`` wins."""
    if not control_dir:
        return []
    return ["-o", "ControlMaster=auto", "-o", "ControlPath=%s/%%C" % control_dir,
            "-o", "ControlPersist=%d" % CONTROL_PERSIST]


def ssh_runner(ssh_command: str, control_dir: Optional[str] = None) -> Runner:
    """Run the script on the host with the configured ssh command (SSH, may carry options),
    sharing connections in ``control_dir`` when given (see ``connection_dir``)."""
    base = shlex.split(ssh_command or "ssh") + _sharing(control_dir)

    def run(host: str, text: str, stdin: Stdin, timeout: float) -> "subprocess.CompletedProcess[bytes]":
        return _run_group(base + ["-o", "BatchMode=yes", "--", host, text], stdin, timeout)

    return run


def local_runner(host: str, text: str, stdin: Stdin, timeout: float) -> "subprocess.CompletedProcess[bytes]":
    """Run the script on this machine, through the same shell string ssh would carry.

    Several "hosts" on one machine would share one filesystem, so a live migration between
    them could not be told apart from a no-op. With ``ONESP_LOCAL_PRIVATE_DIR`` (a directory,
    typically the datastores directory) and ``ONESP_LOCAL_HOSTS_DIR`` set, each host sees its
    own copy: the script runs in a private mount namespace where ``<hosts dir>/<host>`` is
    bind-mounted over the private directory (needs root and ``unshare``; tests and the demo).
    """
    argv, env = _local_argv(host, text)
    return _run_group(argv, stdin, timeout, env)


def _local_argv(host: str, text: str) -> "tuple[List[str], Dict[str, str]]":
    argv = ["sh", "-c", text]
    dirs = local_host_dirs()
    if dirs is not None:
        private, hosts = dirs
        own = os.path.join(hosts, host)
        os.makedirs(own, exist_ok=True)
        argv = ["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$2" && exec sh -c "$3"', "sh", own, private, text]
    return argv, dict(os.environ, ONESP_HOST=host)


def runner_from_config(cfg: Config) -> Runner:
    if cfg.HOST_EXEC == "local":
        return local_runner
    return ssh_runner(cfg.SSH, connection_dir(cfg))


def spawn(cfg: Config, host: str, commands: Sequence[Argv], stdout: Optional[Union[int, IO[bytes]]],
          stderr: Optional[Union[int, IO[bytes]]]) -> "subprocess.Popen[bytes]":
    """Start ``commands`` on ``host`` the way the configured runner would, without waiting.

    The sending half of a stream between two hosts: its ``stdout`` (``subprocess.PIPE``)
    becomes the stdin of ``Host.run`` on the receiving host, so the bytes flow through a
    pipe on this machine and are never held in memory (a VM directory with a memory
    checkpoint moved from host to host). It runs in a process group of its own: ``stop``
    ends all of it.
    """
    text = script(commands)
    if cfg.HOST_EXEC == "local":
        argv, env = _local_argv(check_host(host), text)
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env,
                                start_new_session=True)
    argv = (shlex.split(cfg.SSH or "ssh") + _sharing(connection_dir(cfg))
            + ["-o", "BatchMode=yes", "--", check_host(host), text])
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)


def stop(proc: "subprocess.Popen[bytes]") -> None:
    """End a ``spawn``ed command and everything it started (its own process group)."""
    _end_group(proc)

"""The executables' first step: hand the action to the resident server, or run it here.

Every executable oned runs calls ``main(kind, action)``. When an ``onesp server`` answers
on the socket in ``ONESP_SERVER_DIR`` (default ``/run/onesp``; empty: never try) and runs
the very files this executable would import, the action runs there, in a worker forked
from a process that has every module imported already: this process hands over its
argv, environment, working directory, umask and its own descriptors 0, 1 and 2
(SCM_RIGHTS), forwards SIGTERM and SIGINT, and ends as the worker ended (its exit status,
or the same signal). Otherwise — no socket, a directory others could reach, a server of
another user or running other code — it runs ``onesp.runtime.driver`` in this process as it always
did, and the driver says so in the log once (see ``driver.note_in_process``).

This module imports only what a Python process has loaded anyway (``os``, ``sys``,
``stat``) plus ``struct`` and the C halves of ``socket`` and ``signal``: their Python
wrappers pull in ``enum`` and ``selectors``, which would cost this path more than all the
rest of it. The protocol is the server's (``onesp.runtime.actionserver``).
"""

import os
import stat
import struct
import sys

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (type checkers know the name); the
#: annotations below are strings, never evaluated here.
TYPE_CHECKING = False
if TYPE_CHECKING:  # the stubs describe the public modules, which the C halves implement
    import signal
    import socket as sockets
    from types import FrameType
    from typing import Mapping, Optional, Sequence
else:
    try:
        import _signal as signal
        import _socket as sockets
    except ImportError:  # another Python than CPython: the public modules have the same names
        import signal
        import socket as sockets

#: Where the server's socket lives unless ``ONESP_SERVER_DIR`` says otherwise (systemd's
#: RuntimeDirectory of the onesp unit: made 0700 for oneadmin at each start).
DEFAULT_DIR = "/run/onesp"
DIR_VARIABLE = "ONESP_SERVER_DIR"
SOCKET = "server.sock"
MAGIC = b"onesp-action-1"
#: Why the compiled client ran the action in-process (set by it, read and removed here).
FALLBACK = "ONESP_CLIENT_FALLBACK"
#: The compiled client next to this module (client.c; made by install.sh and scripts/setup).
COMPILED = "onesp-client"
#: Server to client: the action was refused (the reason follows), accepted, or ended (wait status).
REFUSED, ACCEPTED, STATUS = b"R", b"A", b"S"
LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Unavailable(Exception):
    """No server can take this action: the reason is logged once, the action runs in-process."""


def fingerprint(library: str = LIBRARY) -> bytes:
    """What identifies the code under ``library``: its real path and every file's name, size
    and modification time (``__pycache__`` aside). An upgrade, ``onehost sync`` or an edit
    changes it, so a server still running older code is never given an action."""
    top = os.path.realpath(library)
    entries = [top]
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(os.path.join(top, relative)) as listing:
            for entry in listing:
                name = relative + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(name + "/")
                    continue
                info = entry.stat(follow_symlinks=False)
                entries.append("%s %d %d" % (name, info.st_size, info.st_mtime_ns))
    entries[1:] = sorted(entries[1:])
    return "\n".join(entries).encode("utf-8", "surrogateescape")


def server_dir(env: "Mapping[str, str]" = os.environ) -> str:
    return env.get(DIR_VARIABLE, DEFAULT_DIR)


def open_private_dir(path: str) -> int:
    """A descriptor of ``path`` if it is a directory of this user that no one else can enter
    (checked through the descriptor, opened without following a link); else Unavailable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise Unavailable("no server directory %s" % path) from exc
    except OSError as exc:
        raise Unavailable("server directory %s cannot be opened (%s)" % (path, exc.strerror or exc)) from exc
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        os.close(fd)
        raise Unavailable("server directory %s refused: owner uid %d, mode %04o (must be this user's, 0700)"
                          % (path, info.st_uid, stat.S_IMODE(info.st_mode)))
    return fd


def connect(path: str) -> "sockets.socket":
    """A socket connected to the server in directory ``path``, whose peer is this user."""
    fd = open_private_dir(path)
    sock = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    try:
        sock.settimeout(5.0)
        # through the descriptor just checked, never the name again: a directory swapped meanwhile is not used
        sock.connect("/proc/self/fd/%d/%s" % (fd, SOCKET))
        credentials = sock.getsockopt(sockets.SOL_SOCKET, sockets.SO_PEERCRED, struct.calcsize("3i"))
        uid = struct.unpack("3i", credentials)[1]
        if uid != os.geteuid():
            raise Unavailable("the server socket in %s belongs to uid %d, not to this user" % (path, uid))
    except OSError as exc:
        sock.close()
        raise Unavailable("no server answers in %s (%s)" % (path, exc.strerror or exc.__class__.__name__)) from exc
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(fd)
    return sock


def request(kind: str, action: str, argv: "Sequence[bytes]", env: "Mapping[bytes, bytes]", cwd: bytes, umask: int,
            code: bytes) -> bytes:
    """The request a client sends (after the 4-byte length that carries its descriptors)."""
    fields = [MAGIC, code, kind.encode(), action.encode(), cwd, b"%o" % umask, b"%d" % len(argv)]
    fields += argv
    fields += [key + b"=" + value for key, value in env.items()]
    return b"\0".join(fields)


def _receive(sock: "sockets.socket", size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def run_by_server(kind: str, action: str, path: str) -> int:
    """Have the server run the action; its wait status. Unavailable until the server took it."""
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        cwd = os.getcwdb()
    except OSError as exc:
        raise Unavailable("the working directory is gone") from exc
    sock = connect(path)  # first: without a server, the fingerprint is not worth computing
    try:
        try:
            payload = request(kind, action, [os.fsencode(a) for a in sys.argv], os.environb, cwd, umask,
                              fingerprint())
            sock.sendmsg([struct.pack("!I", len(payload))],
                         [(sockets.SOL_SOCKET, sockets.SCM_RIGHTS, struct.pack("3i", 0, 1, 2))])
            sock.sendall(payload)
            answer = sock.recv(1)
            reason = _receive(sock, 4096).decode("utf-8", "replace") if answer == REFUSED else ""
        except OSError as exc:
            raise Unavailable("the server in %s did not take the action (%s)" % (path, exc.strerror or exc)) from exc
        except ValueError as exc:  # a name that is no file name (surrogates): the driver says what is wrong
            raise Unavailable("the action cannot be handed over: %s" % exc) from exc
        if answer == REFUSED:
            raise Unavailable("the server in %s refused the action: %s" % (path, reason))
        if answer != ACCEPTED:
            raise Unavailable("the server in %s closed the connection" % path)
        return _wait(sock)
    finally:
        sock.close()


def _wait(sock: "sockets.socket") -> int:
    """Forward SIGTERM/SIGINT to the worker (through the server, which knows whether it still
    runs) until the worker's wait status arrives."""
    sock.settimeout(None)

    def forward(signum: int, frame: "Optional[FrameType]") -> None:
        try:
            sock.send(bytes([signum]))
        except OSError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    try:
        answer = _receive(sock, 5)
    except OSError:
        answer = b""
    if len(answer) != 5 or answer[:1] != STATUS:
        os.write(2, b"onesp: the onesp server stopped before the action ended; its outcome is unknown\n")
        return 1 << 8
    status: int = struct.unpack("!i", answer[1:])[0]
    return status


def exit_like(status: int) -> None:
    """End this process as the worker ended: its exit status, or killed by the same signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            signal.signal(number, signal.SIG_DFL)  # SIGKILL and SIGSTOP cannot be handled: nothing to reset
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.WEXITSTATUS(status))


def main(kind: str, action: str) -> None:
    """Entry point of every executable: the server if one takes the action, else in-process.

    The compiled client (``client.c``) tries the server first and, when none takes the
    action, runs the executable again as Python with the reason in ``ONESP_CLIENT_FALLBACK``:
    then the server is not asked twice, and the variable never reaches the action."""
    path = server_dir()
    reason = os.environ.pop(FALLBACK, None)
    if path and reason is None:
        try:
            exit_like(run_by_server(kind, action, path))
        except Unavailable as exc:
            reason = str(exc)
    from onesp.runtime.driver import main as in_process

    in_process(kind, action, fallback=reason if path else None)

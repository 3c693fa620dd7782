"""The worker's side of the action server: the request a client hands over, and a worker
forked for it becoming that client's process (``onesp.runtime.actionserver`` accepts the
connection, checks it and forks; this module is what the forked worker runs).

The request is ``client.request()``'s bytes: NUL-separated fields after a 4-byte length that
carries the client's descriptors 0, 1 and 2 (SCM_RIGHTS). The monitor reads it from the
client and hands it on unchanged to the worker it forked ahead of it, over a socket pair.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import struct
import sys
from typing import Dict, List, Tuple

from . import client

#: A question without descriptors (``onesp doctor``): would you run the code of this fingerprint?
PROBE = b"onesp-probe-1"


class Request:
    """One action as a client handed it over (or a probe: ``probe`` set, no action)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        fields = payload.split(b"\0")
        self.probe = fields[0] == PROBE and len(fields) == 2
        if self.probe:
            self.code = fields[1]
            return
        if len(fields) < 7 or fields[0] != client.MAGIC:
            raise ValueError("not an onesp action request")
        self.code = fields[1]
        self.kind = fields[2].decode("ascii")
        self.action = fields[3].decode("ascii")
        self.cwd = fields[4]
        self.umask = int(fields[5], 8) & 0o777
        count = int(fields[6])
        if count < 1 or len(fields) < 7 + count:
            raise ValueError("malformed argv")
        self.argv = [os.fsdecode(a) for a in fields[7:7 + count]]
        self.env: Dict[bytes, bytes] = {}
        for item in fields[7 + count:]:
            key, sep, value = item.partition(b"=")
            if sep and key:
                self.env[key] = value


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), 1 << 16))
        if not chunk:
            raise ValueError("the client closed the connection mid-request")
        data += chunk
    return bytes(data)


def read_request(conn: socket.socket) -> Tuple[Request, List[int]]:
    """The request and the three descriptors that came with it (closed here on any error)."""
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    try:
        if len(head) != 4:
            raise ValueError("no request")
        (length,) = struct.unpack("!I", head)
        if length > 64 << 20:
            raise ValueError("request too large")
        request = Request(_receive_exactly(conn, length))
        if len(fds) != (0 if request.probe else 3):
            raise ValueError("not the three descriptors of an action")
        return request, fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def await_request(channel: socket.socket) -> int:
    """In the worker forked ahead of its request: wait for the monitor to hand it over (with the
    client's three descriptors) and run it; 0 when none comes (the monitor refused the client)."""
    try:
        head, fds, _, _ = socket.recv_fds(channel, 4, 3)
    except OSError:
        return 0
    if len(head) != 4 or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return 0
    request = Request(_receive_exactly(channel, struct.unpack("!I", head)[0]))
    channel.close()
    try:
        return run_worker(request, fds)
    except Exception as exc:  # never a traceback for oned: one line, as the driver would
        os.write(2, ("%s %s: start: internal error in the onesp server's worker: %s: %s\n"
                     % (request.kind, request.action, exc.__class__.__name__, exc)).encode("utf-8", "replace"))
        return 70


def run_worker(request: Request, fds: List[int]) -> int:
    """In the forked worker: become the client's process as far as the action can tell, and run it."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python itself starts: EPIPE is an error, not death
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in fds]  # none of them may be 0-2 while they move
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)
    encoding, errors = sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict"
    sys.stdin = io.open(0, "r", encoding=encoding, errors=errors, closefd=False)
    sys.stdout = io.open(1, "w", encoding=encoding, errors=errors, closefd=False)
    sys.stderr = io.TextIOWrapper(io.open(2, "wb", closefd=False), encoding=encoding, errors="backslashreplace",
                                  line_buffering=True)
    os.umask(request.umask)
    from . import driver

    try:
        os.chdir(request.cwd)
    except OSError as exc:
        sys.stderr.write("%s %s: start: cannot enter the working directory: %s\n"
                         % (request.kind, request.action, exc.strerror))
        return driver.finish(1)
    os.environ.clear()
    for key, value in request.env.items():
        os.environb[key] = value
    sys.argv = request.argv
    return driver.finish(driver.run_action(request.kind, request.action, request.argv[1:]))

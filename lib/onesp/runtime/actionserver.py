"""``onesp server``: a resident process that runs actions in workers forked from it.

A fresh Python process spends most of a cheap action on starting and importing; this
one has imported every action module once, and every module of ``onesp.one`` and
``onesp.runtime`` (so no worker imports one again), filled the caches a first action
would fill, and frozen that heap (``gc.freeze``: a worker's collections never walk it).
Modelled on Mercurial's command server (chg): the executables oned runs connect
(``onesp.runtime.client``), and for each connection

* the server forks a *monitor* and goes back to accepting: a monitor never depends on the
  server again, so stopping or restarting the server (``KillMode=process`` in the unit)
  leaves running actions alone;
* the monitor forks the *worker* at once, before the request has arrived, so that the
  fork and the worker's first steps overlap the client computing and sending it;
* the monitor checks the peer (``SO_PEERCRED``: this user only), reads the request — the
  client's descriptors 0, 1 and 2 (SCM_RIGHTS), argv, environment, working directory,
  umask and the fingerprint of the library it would import — and refuses it unless that
  fingerprint is the one of the code this server loaded (the client then runs the action
  itself, and the worker, handed nothing, ends). When the server's own files changed since
  it started (an upgrade, ``onehost sync``), the monitor also stops the server, so systemd
  starts it again on the new code;
* the monitor hands the request and the descriptors to the worker (a socket pair), which
  takes over the client's descriptors, directory, umask and environment and runs
  ``onesp.runtime.driver.run_action`` exactly as the executable would in-process; the
  monitor relays SIGTERM/SIGINT the client forwards (one byte per signal on the
  connection; a client that disappears counts as SIGTERM, so the action undoes its work
  rather than run on unattended) and sends the worker's wait status back.

The socket is ``server.sock`` in a directory that only this user can reach (made 0700,
checked through its descriptor as ``locks.private_directory`` does, and ``0o077`` clear).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import pkgutil
import select
import signal
import socket
import struct
import sys
from typing import Callable, List, Optional, Tuple

from . import client, locks
from .actionworker import PROBE, await_request, read_request
from .errors import ConfigError

Say = Callable[[str], None]


def preload(say: Say) -> int:
    """Import every action and what actions import on first use; the number of modules loaded.

    Every module of ``onesp.one`` and ``onesp.runtime`` is imported too, not only what the
    actions import at their top: a module an action imports inside a function would
    otherwise be loaded again in every worker. A module that cannot be imported (a missing
    optional package) is left to the worker, which then fails exactly as the executable
    would in-process; the others still load."""
    import http.client  # noqa: F401  (StorPool API, oned XML-RPC)
    import xmlrpc.client  # noqa: F401

    from .. import actions
    from . import driver  # noqa: F401

    names: List[str] = []
    for name in ("onesp.one", "onesp.runtime"):  # found, not imported: onesp.one needs lxml
        spec = importlib.util.find_spec(name)
        names += ["%s.%s" % (name, info.name) for info in pkgutil.iter_modules(spec and spec.submodule_search_locations or [])
                  if info.name != "actionserver"]  # this module (``python -m`` runs it as __main__)
    for kind in ("ds", "tm", "vmm"):
        package = importlib.import_module("%s.%s" % (actions.__name__, kind))
        names += ["%s.%s" % (package.__name__, info.name) for info in pkgutil.iter_modules(package.__path__)]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            say("onesp server: %s not loaded (%s); actions that need it load it themselves" % (name, exc))
    _warm()
    return len(sys.modules)


def _warm() -> None:
    """Fill the caches the first action of every worker would fill again after the fork.

    ``getaddrinfo`` encodes a host name with the ``idna`` codec, whose module (with
    ``stringprep`` and ``unicodedata``) is imported on its first lookup; the name patterns
    of the default instance prefix are compiled once (``naming.Names.parse``), and the
    settings' defaults converted (``config.default_values``)."""
    import codecs

    from .config import default_values
    from .naming import Names

    codecs.lookup("idna")
    names = Names()
    names.parse(names.image(0))
    default_values()


def peer_uid(conn: socket.socket) -> int:
    uid: int = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1]
    return uid


class Server:
    def __init__(self, directory: str, say: Say) -> None:
        self.directory = directory
        self.say = say
        self.library = client.LIBRARY
        self.code = client.fingerprint(self.library)
        self.pid = os.getpid()
        self.listener: Optional[socket.socket] = None
        self.dir_fd = -1

    # -- the server ---------------------------------------------------------------------------------
    def open(self) -> None:
        old_umask = os.umask(0o077)
        try:
            self.dir_fd = locks.private_directory(self.directory, client.DIR_VARIABLE)
            if os.fstat(self.dir_fd).st_mode & 0o077:
                os.fchmod(self.dir_fd, 0o700)  # only this user may even look up the socket
            try:
                os.unlink(client.SOCKET, dir_fd=self.dir_fd)
            except FileNotFoundError:
                pass
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind("/proc/self/fd/%d/%s" % (self.dir_fd, client.SOCKET))
            listener.listen(64)
            self.listener = listener
        finally:
            os.umask(old_umask)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.dir_fd >= 0:
            try:
                os.unlink(client.SOCKET, dir_fd=self.dir_fd)
            except OSError:
                pass
            os.close(self.dir_fd)
            self.dir_fd = -1

    def serve(self) -> None:
        """Accept until SIGTERM or SIGINT; each connection is handled by a forked monitor."""
        assert self.listener is not None
        stopping: List[int] = []

        def stop(signum: int, frame: object) -> None:
            stopping.append(signum)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the kernel
        try:
            while not stopping:
                try:
                    ready, _, _ = select.select([self.listener], [], [], 1.0)
                except InterruptedError:
                    continue
                if not ready:
                    continue
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    status = 70
                    try:
                        self.listener.close()
                        os.close(self.dir_fd)  # a worker holds no descriptor of the server but its client's
                        for sig in previous:
                            signal.signal(sig, signal.SIG_DFL)
                        status = Monitor(self, conn).run()
                    finally:
                        os._exit(status)
                conn.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Monitor:
    """One connection: check, fork the worker, relay signals, report its wait status."""

    def __init__(self, server: Server, conn: socket.socket) -> None:
        self.server = server
        self.conn = conn

    def refuse(self, reason: str) -> int:
        try:
            self.conn.sendall(client.REFUSED + reason.encode("utf-8", "replace"))
        except OSError:
            pass
        return 0

    def run(self) -> int:
        os.setsid()  # no longer in the server's process group: a ^C to a foreground server spares actions
        handoff, channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        worker = os.fork()  # before the request is read: its start overlaps the client's sending it
        if worker == 0:
            status = 70
            try:
                self.conn.close()
                handoff.close()
                status = await_request(channel)
            finally:
                os._exit(status)
        channel.close()
        try:
            return self.check_and_hand_over(worker, handoff)
        finally:
            handoff.close()  # a worker given no request ends at once (``dismiss`` reaps it)

    def check_and_hand_over(self, worker: int, handoff: socket.socket) -> int:
        conn = self.conn
        conn.settimeout(10.0)
        uid = peer_uid(conn)
        if uid != os.geteuid():
            return self.refused(worker, handoff, "peer uid %d is not the server's uid %d" % (uid, os.geteuid()))
        try:
            request, fds = read_request(conn)
        except (OSError, ValueError) as exc:
            return self.refused(worker, handoff, "bad request: %s" % exc)
        if request.probe and request.code == self.server.code:
            conn.sendall(client.ACCEPTED)
            return self.dismiss(worker, handoff, 0)
        if request.code != self.server.code:
            for fd in fds:
                os.close(fd)
            if client.fingerprint(self.server.library) != self.server.code:
                try:
                    os.kill(self.server.pid, signal.SIGTERM)  # systemd starts it again, on the new code
                except OSError:
                    pass
                return self.refused(worker, handoff, "it runs the code it loaded before %s changed; it stops to be "
                                    "restarted" % self.server.library)
            return self.refused(worker, handoff, "it runs the code in %s, not the client's" % self.server.library)
        try:
            socket.send_fds(handoff, [struct.pack("!I", len(request.payload)), request.payload], fds)
        except OSError as exc:
            return self.refused(worker, handoff, "its worker did not start: %s" % (exc.strerror or exc))
        finally:
            for fd in fds:
                os.close(fd)
        conn.settimeout(None)
        try:
            conn.sendall(client.ACCEPTED)
        except OSError:
            os.kill(worker, signal.SIGTERM)
        return self.relay(worker)

    def refused(self, worker: int, handoff: socket.socket, reason: str) -> int:
        return self.dismiss(worker, handoff, self.refuse(reason))

    @staticmethod
    def dismiss(worker: int, handoff: socket.socket, status: int) -> int:
        """End the worker that got no action (it reads the end of the hand-over); ``status``."""
        handoff.close()
        try:
            os.waitpid(worker, 0)
        except ChildProcessError:
            pass
        return status

    def relay(self, worker: int) -> int:
        """Forward signal bytes until the worker ends; then send its wait status."""
        try:
            pidfd: Optional[int] = os.pidfd_open(worker)
        except (AttributeError, OSError):
            pidfd = None
        watching = [self.conn.fileno()]
        while True:
            ready, _, _ = select.select(watching + ([pidfd] if pidfd is not None else []), [], [],
                                        None if pidfd is not None else 0.01)
            done, status = os.waitpid(worker, os.WNOHANG)
            if done:
                break
            if watching and self.conn.fileno() in ready:
                try:
                    data = self.conn.recv(64)
                except OSError:
                    data = b""
                for signum in data or bytes([signal.SIGTERM]):  # a vanished client counts as SIGTERM
                    if signum in (signal.SIGTERM, signal.SIGINT):
                        os.kill(worker, signum)
                if not data:
                    watching = []
        try:
            self.conn.sendall(client.STATUS + struct.pack("!i", status))
        except OSError:
            pass
        return 0


def probe(directory: str, library: str) -> Tuple[bool, str]:
    """Whether a server answers in ``directory`` and would run the code in ``library``; why not."""
    try:
        conn = client.connect(directory)
    except client.Unavailable as exc:
        return False, str(exc)
    try:
        payload = PROBE + b"\0" + client.fingerprint(library)
    except OSError as exc:
        conn.close()
        return False, "cannot read %s: %s" % (library, exc.strerror or exc)
    try:
        conn.sendall(struct.pack("!I", len(payload)) + payload)
        answer = conn.recv(1)
        reason = conn.recv(4096).decode("utf-8", "replace") if answer == client.REFUSED else ""
    except OSError as exc:
        return False, "the server in %s did not answer (%s)" % (directory, exc.strerror or exc)
    finally:
        conn.close()
    if answer == client.ACCEPTED:
        return True, "a server in %s runs the code in %s" % (directory, library)
    return False, "the server in %s would not run the code in %s: %s" % (directory, library, reason or "no answer")


def main(directory: str, say: Say) -> int:
    """Run a server in the foreground until SIGTERM/SIGINT (``onesp server``)."""
    server = Server(directory, say)  # the fingerprint first: a file changed while loading is seen as a change
    count = preload(say)
    gc.collect()
    gc.freeze()  # the preloaded heap: no worker's collections walk it (nor copy its pages to do so)
    _forget_in_process_note()
    try:
        server.open()
    except ConfigError as exc:
        say("onesp server: %s" % exc)
        return 1
    except OSError as exc:
        say("onesp server: cannot listen in %s: %s" % (directory, exc.strerror or exc))
        return 1
    say("onesp server: %d modules loaded from %s, listening in %s" % (count, server.library, directory))
    try:
        server.serve()
    finally:
        server.close()
    say("onesp server: stopped")
    return 0


def _forget_in_process_note() -> None:
    """A server answers again: the next action that finds none says so in the log again."""
    from . import config, driver

    try:
        driver.forget_in_process(config.load())
    except (ConfigError, OSError):
        pass


if __name__ == "__main__":  # the systemd unit: python3 -m onesp.runtime.actionserver --dir /run/onesp (no click needed)
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m onesp.runtime.actionserver", description="the onesp action server")
    parser.add_argument("--dir", default=client.server_dir() or client.DEFAULT_DIR)
    sys.exit(main(parser.parse_args().dir, lambda line: print(line, file=sys.stderr, flush=True)))

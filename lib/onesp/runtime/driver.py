"""``main(kind, action)``: how every executable runs its action, and the error contract with oned.

On success the action's result goes to stdout (one line where oned requires it) and the
exit status is 0. On failure the undo stack runs in reverse, stderr gets exactly one plain
line naming the action, the step and the object::

    tm clone: attach one-img-5-7-0 to node1: busy: volume is open

followed at most by ``ERROR:`` lines (which oned treats as log), and the exit status is
non-zero. Tracebacks go to the log only, and so does the chain of errors behind a failure
(``causes``: the ``raise ... from`` of each onesp error). SIGTERM and SIGINT raise ``Interrupted`` inside
the action, so the same undo runs, and the exit status is 128 + the signal's number.

The line is built in one order: the token masked (raw and base64), whitespace folded to
one line, control characters escaped (``logs.printable``, as in the log), and only then
shortened to 600 characters, so a cut never leaves a piece of the token the mask could
no longer recognise.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import sys
from types import FrameType
from typing import Callable, List, Optional, Sequence, TextIO, Tuple, Union

from . import config, configfiles, interrupts, logs
from .actioncontext import Context
from .errors import BadInput, ConfigError, Interrupted, OnespError

#: Action modules are lower-case names; helpers next to them start with "_" and are never run.
_ACTION = re.compile(r"[a-z][a-z0-9_]{0,40}\Z")


def _argv_for_log(argv: Sequence[str]) -> str:
    """The arguments as the log shows them: a base64 driver action (old argv form) carries
    the datastore's decrypted token, which no text filter recognises in base64, so long
    arguments are summarised, never written."""
    return " ".join(a if len(a) <= 256 else "<%d bytes>" % len(a) for a in argv)


def _one_line(text: str) -> str:
    """Masked, control characters escaped, folded to one line: what oned may show of ``text``."""
    return logs.printable(" ".join(logs.SECRETS.mask(str(text)).split()))


def failure_line(kind: str, action: str, step: Optional[str], error: BaseException) -> str:
    """The single user-facing line for a failed action."""
    parts = ["%s %s" % (kind, action)]
    if step:
        parts.append(step)
    if isinstance(error, (OnespError, Interrupted)):
        parts.append("%s: %s" % (error.kind, error))
    else:
        parts.append("internal error: %s: %s" % (error.__class__.__name__, error))
    return _shorten(_one_line(": ".join(parts)))


def _shorten(line: str, limit: int = 600) -> str:
    """oned shows the line in one field: a hostile 5,000-character value is cut in the middle."""
    if len(line) <= limit:
        return line
    keep = (limit - len(" ...[%d characters]... " % len(line))) // 2  # the marker counts, so the bound holds
    return "%s ...[%d characters]... %s" % (line[:keep], len(line) - 2 * keep, line[-keep:])


def causes(error: BaseException, limit: int = 5) -> str:
    """``; caused by <class>: <text>`` for each error behind ``error`` (``raise ... from``, or
    raised while handling it): the log keeps what the one line for oned leaves out."""
    out: List[str] = []
    seen = {id(error)}
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    while cause is not None and id(cause) not in seen and len(out) < limit:
        seen.add(id(cause))
        out.append("; caused by %s: %s" % (cause.__class__.__name__, cause))
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return "".join(out)


#: What ``signal.signal`` takes and gives back: a function, SIG_DFL/SIG_IGN, or None (not set from Python).
_Handler = Union[Callable[[int, Optional[FrameType]], object], int, signal.Handlers, None]


class _Signals:
    """Turns SIGTERM/SIGINT into Interrupted while the action runs; ignores them during undo."""

    def __init__(self) -> None:
        self.undoing = False
        self.previous: List[Tuple[signal.Signals, _Handler]] = []

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous.append((sig, signal.signal(sig, self._handle)))

    def restore(self) -> None:
        for sig, handler in self.previous:
            signal.signal(sig, handler)
        self.previous = []

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.undoing:
            logs.LOGGER.warning("signal %d ignored while undoing", signum)
            return
        interrupts.deliver(signum)


def run_action(
    kind: str,
    action: str,
    argv: Sequence[str],
    stdin: Optional[Callable[[], bytes]] = None,
    stdout: Optional[TextIO] = None,
    stderr: Optional[TextIO] = None,
    observer: Optional[Callable[[str, str, Optional[str]], None]] = None,
    fallback: Optional[str] = None,
) -> int:
    """Run one action with the error contract; returns the exit status. ``fallback``: why no
    server took the action (``onesp.runtime.client``), logged once (``note_in_process``)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    stdin = stdin or (lambda: sys.stdin.buffer.read())
    tag = "%s_sp_%s" % (kind, action)
    verbose = configfiles.verbose()
    try:
        cfg = config.load()
        log = logs.setup(tag, cfg, verbose)
    except ConfigError as exc:
        stderr.write(failure_line(kind, action, "load configuration", exc) + "\n")
        return exc.exit_code
    except Exception as exc:  # never a traceback for oned, even before logging exists
        stderr.write(failure_line(kind, action, "start", exc) + "\n")
        return 1
    for warning in cfg.warnings:
        log.warning("configuration: %s", warning)
    if fallback:
        note_in_process(cfg, fallback)
    log.debug("start: %s", _argv_for_log(argv))
    ctx = Context(kind, action, argv, cfg, stdin=stdin, observer=observer)
    signals = _Signals()
    signals.install()
    try:
        try:
            if kind not in ("ds", "tm", "vmm", "hook") or not _ACTION.match(action):
                raise BadInput("unknown action %s %s" % (kind, action))
            module = importlib.import_module("onesp.actions.%s.%s" % (kind, action))
            result = module.run(ctx)
            ctx.undo_stack.drop()
        except BaseException as exc:
            signals.undoing = True
            step = getattr(exc, "step", None) or ctx.current_step
            if isinstance(exc, OnespError):
                log.error("%s failed at %s: %s%s%s", action, step or "start", exc,
                          " (%s)" % exc.detail if exc.detail else "", causes(exc))
            elif isinstance(exc, Interrupted):
                log.error("%s stopped at %s: %s", action, step or "start", exc)
            elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
                exc = Interrupted("interrupted", signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM)
            else:
                log.error("%s failed at %s", action, step or "start", exc_info=True)
            undone = ctx.undo_stack.run()
            stderr.write(failure_line(kind, action, step, exc) + "\n")
            if undone or ctx.undo_stack.failures:
                detail = "ERROR: rolled back %d step(s)" % undone
                if ctx.undo_stack.failures:
                    detail += "; could not undo: " + "; ".join(ctx.undo_stack.failures)
                stderr.write(_shorten(_one_line(detail), 4000) + "\n")
            return exc.exit_code if isinstance(exc, (OnespError, Interrupted)) else 1
    finally:
        ctx.release()
        signals.restore()
    if result:
        text = str(result)
        stdout.write(text if text.endswith("\n") else text + "\n")
    stdout.flush()
    log.debug("done")
    return 0


#: In LOCK_DIR: an action ran in-process and said why; removed when a server starts.
IN_PROCESS_NOTE = "in-process.note"


def note_in_process(cfg: config.Config, reason: str) -> None:
    """Log once per absence of the server that actions run in-process, and why.

    "Once" is per episode: the first action that finds no server (or one that refuses it)
    logs the line and leaves ``IN_PROCESS_NOTE`` in LOCK_DIR; the next actions see the note
    and stay quiet, until a server starts (it removes the note) and later goes away again.
    """
    from . import locks

    try:
        fd = locks.private_directory(cfg.LOCK_DIR)
    except (ConfigError, OSError):
        return
    try:
        os.close(os.open(IN_PROCESS_NOTE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=fd))
    except OSError:
        return  # already noted (or not writable: then never, rather than at every action)
    finally:
        os.close(fd)
    logs.LOGGER.warning("running actions in-process: %s", reason)


def forget_in_process(cfg: config.Config) -> None:
    """Remove the note, so the next action without a server logs again (a server started)."""
    from . import locks

    fd = locks.private_directory(cfg.LOCK_DIR)
    try:
        os.unlink(IN_PROCESS_NOTE, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def finish(status: int) -> int:
    """Flush what the action wrote (stdout, stderr, the log) before ``os._exit``: tearing down
    every module at exit costs a cheap action a sixth of its time and does nothing it needs.
    A flush that fails (oned closed the pipe) makes the status 120, as Python's own exit does."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120
    for handler in list(logs.LOGGER.handlers):
        try:
            handler.flush()
            handler.close()
        except (OSError, ValueError):
            pass
    return status


def main(kind: str, action: str, fallback: Optional[str] = None) -> None:
    """Run the action in this process and exit with its status (``onesp.runtime.client.main`` calls it
    when no server takes the action)."""
    status = finish(run_action(kind, action, sys.argv[1:], fallback=fallback))
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(status)  # a profiler, coverage or a debugger writes its results at exit
    os._exit(status)

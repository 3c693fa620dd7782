"""Logging for actions: syslog (tag ``<kind>_sp_<action>``), optionally a file, never the token.

Log lines never go to stderr unprefixed: stderr belongs to oned, which shows the one
plain line there to the user. With ``ONESP_VERBOSE=1`` (``onesp run --verbose``) log
lines are copied to stderr as ``DEBUG:``/``INFO:``/``ERROR:`` lines, which oned treats as log.

Text that reaches a log line or oned's error line passes ``SECRETS.mask`` (the token, raw
and in base64) and ``printable`` (control characters from StorPool, oned or a host shown as
``\\x1b``, never raw: an ESC sequence would redraw a terminal, a newline forge a log line).
The log file is created 0600 and never through a symbolic link.
"""

from __future__ import annotations

import base64
import errno
import io
import logging
import os
import re
import socket
import stat
import sys
from typing import TYPE_CHECKING, Iterable, List, Optional, Set, TextIO

if TYPE_CHECKING:
    from .config import Config

#: C0 controls but TAB, DEL and C1 controls: nothing a terminal, syslog or oned should get raw.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_KEEP_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(match: "re.Match[str]") -> str:
    return "\\x%02x" % ord(match.group())


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every control character (newlines too, unless kept) written as ``\\xNN``."""
    return (_CONTROL_KEEP_NEWLINE if keep_newlines else _CONTROL).sub(_escape, text)


def secret_forms(secret: str) -> List[str]:
    """The secret, and the part of its base64 encoding fixed by it alone at each of the three
    alignments it can take inside a longer encoded text (a driver action carrying it)."""
    raw = secret.encode("utf-8")
    forms = [secret]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw + b"\0\0\0").decode("ascii")
        first = -(-shift // 3)
        last = (shift + len(raw)) // 3
        if last - first >= 2:  # under 6 characters would also hide harmless text
            forms.append(encoded[4 * first:4 * last])
    return forms

#: The local syslog socket.
SYSLOG_SOCKET = "/dev/log"
LOGGER = logging.getLogger("onesp")
logging.addLevelName(logging.WARNING, "WARN")  # oned recognises WARN:, not WARNING:


class SecretFilter(logging.Filter):
    """Replaces every secret it knows with ``***`` in the final message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: Set[str] = set()
        self.forms: List[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Optional[str]) -> None:
        if secret and len(secret) >= 4 and secret not in self.secrets:
            self.secrets.add(secret)
            self.forms = sorted(set(self.forms) | set(secret_forms(secret)), key=len, reverse=True)

    def mask(self, text: str) -> str:
        """``text`` with every known secret, raw or base64-encoded, replaced by ``***``."""
        for form in self.forms:
            text = text.replace(form, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = printable(self.mask(record.getMessage())), None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = printable(self.mask(text), keep_newlines=True), None
        return True


SECRETS = SecretFilter()


def setup(tag: str, cfg: Config, verbose: bool = False) -> logging.Logger:
    """Attach the configured handlers to the ``onesp`` logger (idempotent per process)."""
    for old in list(LOGGER.handlers):
        LOGGER.removeHandler(old)
    LOGGER.propagate = False
    LOGGER.addHandler(logging.NullHandler())  # never Python's last-resort handler writing to oned's stderr
    level = getattr(logging, cfg.LOG_LEVEL.upper(), logging.INFO)
    LOGGER.setLevel(logging.DEBUG if verbose else level)
    SECRETS.add(cfg.SP_AUTH_TOKEN)
    if cfg.SYSLOG and os.path.exists(SYSLOG_SOCKET):
        try:
            handler: logging.Handler = Syslog(SYSLOG_SOCKET)
            handler.setFormatter(logging.Formatter(tag + "[%(process)d]: %(levelname)s: %(message)s"))
            _add(handler)
        except OSError:
            pass
    if cfg.LOG_TO_FILE:
        path = cfg.LOG_FILE
        try:
            handler = _LogFile(open_log_file(path))
            handler.setFormatter(logging.Formatter("%(asctime)s " + tag + "[%(process)d] %(levelname)s: %(message)s"))
            _add(handler)
        except OSError as exc:
            sys.stderr.write(printable("WARN: cannot open log file %s: %s" % (path, exc.strerror or exc)) + "\n")
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: " + tag + ": %(message)s"))
        _add(handler)
    return LOGGER


class Syslog(logging.Handler):
    """Records to the local syslog socket, framed as ``logging.handlers.SysLogHandler`` frames
    them (``<priority>line`` and a NUL, facility user). That module would bring pickle, queue
    and their imports onto the start-up path of every action that logs to syslog."""

    #: Syslog severities by level name; WARNING is named WARN here (and any other name is a warning too).
    SEVERITY = {"DEBUG": 7, "INFO": 6, "ERROR": 3, "CRITICAL": 2}
    FACILITY_USER = 1

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address
        self.socket = self._connect()

    def _connect(self) -> socket.socket:
        """A datagram socket (what syslog daemons offer), else a stream socket, as SysLogHandler does."""
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(socket.AF_UNIX, kind)
            try:
                sock.connect(self.address)
                return sock
            except OSError:
                sock.close()
                if kind == socket.SOCK_STREAM:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def emit(self, record: logging.LogRecord) -> None:
        try:
            priority = self.FACILITY_USER << 3 | self.SEVERITY.get(record.levelname, 4)
            data = ("<%d>%s\000" % (priority, self.format(record))).encode("utf-8")
            try:
                self.socket.sendall(data)
            except OSError:  # the daemon restarted: once more on a new connection
                self.socket.close()
                self.socket = self._connect()
                self.socket.sendall(data)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            super().close()


class _LogFile(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that owns the file ``open_log_file`` gave it: closing one closes the other."""

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            super().close()


def open_log_file(path: str) -> TextIO:
    """Open ``path`` to append, creating it 0600; never through a symbolic link, never a FIFO or
    device, and never a file another account owns and others may read (a squatted one).

    A file of this user that others can read or write (made by an older version) loses those
    permissions; one that root made is kept as it is, since an administrator chose it.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise OSError(exc.errno, "it is a symbolic link; remove it or set LOG_FILE to another file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "it is not a plain file; remove it or set LOG_FILE to another file")
        if info.st_uid == os.geteuid():
            if info.st_mode & 0o007:
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o007)
        elif info.st_uid != 0:
            raise OSError(errno.EPERM, "it belongs to uid %d, not to this user; remove it as root or set LOG_FILE "
                                       "to another file" % info.st_uid)
        os.set_blocking(fd, True)
        return io.open(fd, "a", encoding="utf-8", errors="backslashreplace")
    except BaseException:
        os.close(fd)
        raise


def _add(handler: logging.Handler) -> None:
    handler.addFilter(SECRETS)
    LOGGER.addHandler(handler)

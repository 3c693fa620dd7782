"""The error vocabulary of onesp.

Every failure an action can meet is one of these classes (``Interrupted``, a termination,
is kept outside the ``OnespError`` family on purpose). ``driver`` turns any of
them into the single stderr line oned shows to the user, so the message of an
error must read well after ``"<kind> <action>: <step>: "``: short, lower case,
naming the object, never containing a secret.
"""

from __future__ import annotations

from typing import Optional


class OnespError(Exception):
    """Base of every error onesp raises on purpose.

    ``kind`` is the short word that prefixes the message in the user-facing line
    (``busy: volume is open``); ``exit_code`` is the process exit status.
    """

    kind = "error"
    exit_code = 1

    def __init__(self, message: str, *, detail: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class ConfigError(OnespError):
    """A configuration value is missing or malformed (names the key and the file)."""

    kind = "configuration error"


class BadInput(OnespError):
    """Arguments, driver-action XML or names from oned are malformed or hostile."""

    kind = "bad input"


class Forbidden(OnespError):
    """The request is well-formed but its owner may not do it (restricted path, other user's VM)."""

    kind = "not allowed"


class NotFound(OnespError):
    """The object the action needs does not exist."""

    kind = "not found"


class AlreadyExists(OnespError):
    """The object the action would create exists and is not ours to reuse."""

    kind = "already exists"


class Busy(OnespError):
    """The object is in use (attached, open, has dependants)."""

    kind = "busy"


class Transient(OnespError):
    """A failure that may go away when the call is repeated (network, overload)."""

    kind = "temporary failure"


class BackendError(OnespError):
    """StorPool or oned refused the request for a reason not covered above."""

    kind = "backend error"


class Unsupported(OnespError):
    """The request is valid but this driver does not do it (and says why)."""

    kind = "unsupported"


class LimitReached(OnespError):
    """A configured limit (snapshots per disk or per VM) forbids the request."""

    kind = "limit reached"


class HostError(OnespError):
    """A command on a hypervisor host failed: names the host, the command and its first stderr line."""

    kind = "host command failed"

    def __init__(self, host: str, command: str, stderr_line: str, returncode: Optional[int] = None) -> None:
        message = "%s on %s" % (command, host)
        if stderr_line:
            message += ": " + stderr_line
        elif returncode is not None:
            message += ": exit status %d" % returncode
        super().__init__(message)
        self.host = host
        self.command = command
        self.stderr_line = stderr_line
        self.returncode = returncode


class Interrupted(BaseException):
    """The action received SIGTERM or SIGINT; the driver runs its undo stack and exits 128+signal.

    Deliberately not an ``OnespError``, nor even an ``Exception`` (like ``KeyboardInterrupt``):
    a best-effort step that logs an error and carries on (``except OnespError``, ``except
    Exception``) cannot swallow a termination, whatever it catches. Only the driver catches it.
    """

    kind = "interrupted"

    def __init__(self, message: str, signum: int = 15) -> None:
        super().__init__(message)
        self.message = message
        self.signum = signum
        self.exit_code = 128 + signum

    def __str__(self) -> str:
        return self.message

"""Where oned listens and which session string to send, resolved like OpenNebula's own CLI.

Endpoint: ``$ONE_XMLRPC``, else ``~/.one/one_endpoint``, else oneadmin's
``/var/lib/one/.one/one_endpoint``, else ``http://localhost:2633/RPC2``.
Session: the file named by ``$ONE_AUTH``, else ``~/.one/one_auth``, else
oneadmin's ``/var/lib/one/.one/one_auth``. The session is a secret: it never
appears in an error message, only the file it was (or was not) read from.
"""

from __future__ import annotations

import os
from typing import List, Mapping, Optional

from ..runtime.errors import ConfigError

DEFAULT_ENDPOINT = "http://localhost:2633/RPC2"
ONEADMIN_HOME = "/var/lib/one"


def _homes(env: Mapping[str, str], home: Optional[str]) -> List[str]:
    homes = []
    user_home = home if home is not None else env.get("HOME") or os.path.expanduser("~")
    if user_home:
        homes.append(user_home)
    if ONEADMIN_HOME not in homes:
        homes.append(ONEADMIN_HOME)
    return homes


def _read_secret_file(path: str) -> Optional[str]:
    """First line of ``path`` stripped, None when the file does not exist."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            content = handle.read(64 * 1024)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError("cannot read %s: %s" % (path, reason)) from exc
    lines = content.strip().splitlines()
    return lines[0].strip() if lines else ""


def resolve_endpoint(env: Optional[Mapping[str, str]] = None, home: Optional[str] = None) -> str:
    """The XML-RPC URL of oned."""
    env = os.environ if env is None else env
    value = (env.get("ONE_XMLRPC") or "").strip()
    if value:
        return value
    for base in _homes(env, home):
        text = _read_secret_file(os.path.join(base, ".one", "one_endpoint"))
        if text:
            return text
    return DEFAULT_ENDPOINT


def resolve_session(env: Optional[Mapping[str, str]] = None, home: Optional[str] = None) -> str:
    """The ``user:password`` (or ``user:token``) session string."""
    env = os.environ if env is None else env
    named = (env.get("ONE_AUTH") or "").strip()
    candidates = [named] if named else [os.path.join(b, ".one", "one_auth") for b in _homes(env, home)]
    for path in candidates:
        text = _read_secret_file(path)
        if text is None:
            continue
        if ":" not in text:
            raise ConfigError("%s does not hold a user:password session" % path)
        return text
    raise ConfigError("no oned credentials: %s not found" % " or ".join(candidates))


def resolve_timeout(env: Optional[Mapping[str, str]] = None, default: float = 30.0) -> float:
    """``$ONE_XMLRPC_TIMEOUT`` in seconds, else ``default``."""
    env = os.environ if env is None else env
    value = (env.get("ONE_XMLRPC_TIMEOUT") or "").strip()
    if not value:
        return default
    try:
        timeout = float(value)
    except ValueError as exc:
        raise ConfigError("ONE_XMLRPC_TIMEOUT is %r, not a number of seconds" % value) from exc
    if timeout <= 0:
        raise ConfigError("ONE_XMLRPC_TIMEOUT must be positive, not %r" % value)
    return timeout

"""Logging for actions: syslog (tag ``<kind>_sp_<action>``), optionally a file, never the token.

Log lines never go to stderr unprefixed: stderr belongs to oned, which shows the one
plain line there to the user. With ``ONESP_VERBOSE=1`` (``onesp run --verbose``) log
lines are copied to stderr as ``DEBUG:``/``INFO:``/``ERROR:`` lines, which oned treats as log.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Iterable, Optional

LOGGER = logging.getLogger("onesp")
logging.addLevelName(logging.WARNING, "WARN")  # oned recognises WARN:, not WARNING:


class SecretFilter(logging.Filter):
    """Replaces every secret it knows with ``***`` in the final message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = {s for s in secrets if s and len(s) >= 4}

    def add(self, secret: Optional[str]) -> None:
        if secret and len(secret) >= 4:
            self.secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.exc_text, record.exc_info = text, None
        return True


SECRETS = SecretFilter()


def setup(tag: str, cfg: object, verbose: bool = False) -> logging.Logger:
    """Attach the configured handlers to the ``onesp`` logger (idempotent per process)."""
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
    LOGGER.propagate = False
    LOGGER.addHandler(logging.NullHandler())  # never Python's last-resort handler writing to oned's stderr
    level = getattr(logging, str(getattr(cfg, "LOG_LEVEL", "info")).upper(), logging.INFO)
    LOGGER.setLevel(logging.DEBUG if verbose else level)
    SECRETS.add(str(getattr(cfg, "SP_AUTH_TOKEN", "") or ""))
    if getattr(cfg, "SYSLOG", False) and os.path.exists("/dev/log"):
        try:
            from logging.handlers import SysLogHandler  # syslog only: keeps pickle off the start-up path

            handler: logging.Handler = SysLogHandler(address="/dev/log")
            handler.setFormatter(logging.Formatter(tag + "[%(process)d]: %(levelname)s: %(message)s"))
            _add(handler)
        except OSError:
            pass
    if getattr(cfg, "LOG_TO_FILE", False):
        try:
            handler = logging.FileHandler(str(getattr(cfg, "LOG_FILE")), encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s " + tag + "[%(process)d] %(levelname)s: %(message)s"))
            _add(handler)
        except OSError as exc:
            sys.stderr.write("WARN: cannot open log file %s: %s\n" % (getattr(cfg, "LOG_FILE"), exc.strerror))
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: " + tag + ": %(message)s"))
        _add(handler)
    return LOGGER


def _add(handler: logging.Handler) -> None:
    handler.addFilter(SECRETS)
    LOGGER.addHandler(handler)

"""Syslog lines: framed as the standard library's SysLogHandler frames them, without its imports."""

from __future__ import annotations

import logging
import logging.handlers
import socket
import subprocess
import sys

import pytest

from onesp.runtime import logs


@pytest.fixture
def listener(tmp_path):
    """A datagram socket standing in for /dev/log: yields (path, socket)."""
    path = str(tmp_path / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def _received(sock: socket.socket, count: int):
    return [sock.recv(65536) for _ in range(count)]


def test_lines_are_the_bytes_the_standard_handler_sends(tmp_path, listener):
    path, ours = listener
    theirs_path = str(tmp_path / "stdlib")
    theirs = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.bind(theirs_path)
    theirs.settimeout(5)
    logger = logging.getLogger("onesp.test-syslog")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    formatter = logging.Formatter("tm_sp_clone[%(process)d]: %(levelname)s: %(message)s")
    handlers = [logs.Syslog(path), logging.handlers.SysLogHandler(address=theirs_path)]
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    try:
        logger.debug("debug %d", 1)
        logger.info("volume one-img-5-7-0 créé")
        logger.warning("warned")  # named WARN by onesp.runtime.logs
        logger.error("failed")
        logger.critical("down")
        assert _received(ours, 5) == _received(theirs, 5)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        theirs.close()


def test_setup_logs_to_syslog_without_loading_logging_handlers(listener):
    path, sock = listener
    code = ("import sys, types; from onesp.runtime import logs; logs.SYSLOG_SOCKET = %r;"
            "cfg = types.SimpleNamespace(LOG_LEVEL='info', SP_AUTH_TOKEN='', SYSLOG=True, LOG_TO_FILE=False, LOG_FILE='');"
            "logs.setup('tm_sp_clone', cfg).info('hello');"
            "print(sorted(m for m in ('logging.handlers', 'pickle', 'queue') if m in sys.modules))" % path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["[]"]
    line = sock.recv(65536)
    assert line.startswith(b"<14>tm_sp_clone[") and line.endswith(b"]: INFO: hello\0"), line

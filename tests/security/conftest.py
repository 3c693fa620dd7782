"""Set-up shared by the security tests: the slow-run switch, a canary, and in-process action runs.

Slow tests (``@pytest.mark.slow``: fuzzing at 10,000 examples per target) are skipped unless
``ONESP_SLOW=1`` is set, so CI (``-m "not slow"`` or not) never spends minutes on them::

    ONESP_SLOW=1 .venv/bin/python -m pytest -q tests/security -m slow

``canary`` is a directory the injection payloads point at: an input that reaches a shell as
syntax runs ``touch <canary>/<name>``, and ``canary.check()`` fails the test when anything
appeared there. ``in_process`` runs an action through ``onesp.runtime.driver.run_action`` inside the
test process with the stack's environment, so a fuzzer can afford thousands of examples; it
goes through the same error contract and the same host runner (``sh -c`` of the quoted
script) as the executables.
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import pytest

from onesp.runtime import driver
from onesp.sim.stack import Result, Stack

#: Control characters (other than the blank a line may carry) never belong in a user-facing line.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Canary:
    """Payloads that create a file in ``directory`` if any shell ever reads them as syntax.

    Most payloads name the file by its absolute path; a few name it relative to the current
    directory (the test runs in ``directory``), so a payload can also sit in a file name
    that holds no ``/``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, name: str) -> str:
        return str(self.directory / name)

    @property
    def payloads(self) -> List[str]:
        """Each way a string turns into a command in sh, bash or an ssh command line."""
        f = self._file
        return [
            "$(touch %s)" % f("dollar"),
            "`touch %s`" % f("backquote"),
            ";touch %s" % f("semicolon"),
            "; touch %s ;" % f("semicolon-spaced"),
            "|touch %s" % f("pipe"),
            "&&touch %s" % f("and"),
            "||touch %s" % f("or"),
            "&touch %s&" % f("background"),
            "\ntouch %s\n" % f("newline"),
            ">%s" % f("redirect"),
            "$(touch${IFS}%s)" % f("ifs"),
            "'$(touch %s)'" % f("single-quoted"),
            "\"$(touch %s)\"" % f("double-quoted"),
            "';touch %s;'" % f("single-break"),
            "\";touch %s;\"" % f("double-break"),
            "\\';touch %s #" % f("backslash-quote"),
            "$(touch %s" % f("unbalanced"),
            "<(touch %s)" % f("process-substitution"),
            "-oProxyCommand=touch %s" % f("ssh-option"),
        ] + self.relative_payloads

    @property
    def relative_payloads(self) -> List[str]:
        """Payloads without ``/``: they act in the current directory, which is the canary's."""
        return ["$(touch rel-dollar)", "`touch rel-backquote`", ";touch rel-semicolon", "|touch rel-pipe",
                "&touch rel-background&", ">rel-redirect", "$(touch${IFS}rel-ifs)", "\';touch rel-quote #"]

    def fired(self) -> List[str]:
        return sorted(p.name for p in self.directory.iterdir())

    def check(self) -> None:
        fired = self.fired()
        assert fired == [], "input ran as shell syntax: canary %s created" % fired


@pytest.fixture
def canary(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Canary:
    """A Canary; the test runs with the canary directory as its current directory."""
    directory = tmp_path_factory.mktemp("canary")
    monkeypatch.chdir(directory)
    return Canary(directory)


def _reset_logging() -> None:
    """Close the handlers run_action opened: thousands of runs in one process must not leak files."""
    logger = logging.getLogger("onesp")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


InProcess = Callable[..., Result]


@pytest.fixture
def in_process(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    """``in_process(kind, action, argv, stdin=b"", env=None) -> Result`` inside this process."""
    for key in list(os.environ):
        if key.startswith("ONESP_") and key not in stack.env and key != "ONESP_SLOW":
            monkeypatch.delenv(key)
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)

    def run(kind: str, action: str, argv: Sequence[str], stdin: bytes = b"",
            env: Optional[Dict[str, str]] = None) -> Result:
        saved = {key: os.environ.get(key) for key in (env or {})}
        os.environ.update(env or {})
        out, err = io.StringIO(), io.StringIO()
        try:
            code = driver.run_action(kind, action, list(argv), stdin=lambda: stdin, stdout=out, stderr=err)
        finally:
            _reset_logging()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return Result([action, *argv], code, out.getvalue(), err.getvalue())

    yield run
    _reset_logging()


@pytest.fixture
def contract() -> Callable[..., None]:
    """``contract(result, kind, action, must_fail=False)``: see check_contract."""
    return check_contract


def check_contract(result: Result, kind: str, action: str, must_fail: bool = False) -> None:
    """What oned may rely on: no traceback; on failure a non-zero exit and exactly one plain
    line naming the action, without control characters and not an internal error."""
    assert "Traceback" not in result.stderr, result
    lines = result.error_lines
    if result.code == 0:
        assert not must_fail, "invalid input was accepted: %s" % (result,)
        assert lines == [], result
        return
    assert 0 < result.code < 256, result
    assert len(lines) == 1, result
    line = lines[0]
    assert line.startswith("%s %s: " % (kind, action)), line
    assert "internal error" not in line, line
    assert not _CONTROL.search(line), repr(line)

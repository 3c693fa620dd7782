"""driver: the error contract with oned, the undo stack, signals, secrets."""

import io
import os
import signal
import sys
import types

import pytest

from onesp.runtime import driver
from onesp.runtime import storpoolapi as storpool
from onesp.runtime.errors import Busy, OnespError

TOKEN = "tok-1234567890-secret"


@pytest.fixture
def env(tmp_path, monkeypatch):
    log = tmp_path / "onesp.log"
    monkeypatch.setenv("ONESP_RC", "")
    monkeypatch.setenv("ONESP_STORPOOL_CONF", str(tmp_path / "none"))
    monkeypatch.setenv("ONESP_SP_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("ONESP_LOG_TO_FILE", "1")
    monkeypatch.setenv("ONESP_LOG_FILE", str(log))
    monkeypatch.setenv("ONESP_SYSLOG", "0")
    return log


def action(monkeypatch, run):
    module = types.ModuleType("onesp.actions.tm.probe")
    module.run = run
    monkeypatch.setitem(sys.modules, "onesp.actions.tm.probe", module)


def invoke(argv=()):
    out, err = io.StringIO(), io.StringIO()
    code = driver.run_action("tm", "probe", list(argv), stdin=lambda: b"", stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_success_prints_result_and_drops_undo(env, monkeypatch):
    undone = []

    def run(ctx):
        ctx.undo(undone.append, "x")
        return "one-ds-1/one-img-5 raw"

    action(monkeypatch, run)
    assert invoke() == (0, "one-ds-1/one-img-5 raw\n", "")
    assert undone == []


def test_failure_one_line_naming_step_and_undo_in_reverse(env, monkeypatch):
    undone = []

    def run(ctx):
        ctx.undo(undone.append, "first")
        ctx.undo(undone.append, "second")
        with ctx.step("attach one-img-5-7-0 to node1"):
            raise Busy("volume is open\nat client 3")

    action(monkeypatch, run)
    code, out, err = invoke()
    lines = err.splitlines()
    assert code != 0 and out == ""
    assert lines[0] == "tm probe: attach one-img-5-7-0 to node1: busy: volume is open at client 3"
    assert all(line.startswith("ERROR:") for line in lines[1:])
    assert undone == ["second", "first"]


def test_failing_undo_does_not_stop_the_rest(env, monkeypatch):
    undone = []

    def bad():
        raise RuntimeError("cannot")

    def run(ctx):
        ctx.undo(undone.append, "a")
        ctx.undo(bad, label="delete x")
        raise Busy("nope")

    action(monkeypatch, run)
    code, _, err = invoke()
    assert undone == ["a"]
    assert "could not undo: delete x: cannot" in err.splitlines()[1]


def test_unexpected_exception_is_one_line_and_traceback_only_in_log(env, monkeypatch):
    def run(ctx):
        {}["missing"]

    action(monkeypatch, run)
    code, _, err = invoke()
    assert code == 1
    assert err.splitlines() == ["tm probe: internal error: KeyError: 'missing'"]
    assert "Traceback" not in err and "Traceback" in env.read_text()


def test_sigterm_runs_the_undo(env, monkeypatch):
    undone = []

    def run(ctx):
        ctx.undo(undone.append, "volume")
        with ctx.step("import image"):
            os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not reached")

    action(monkeypatch, run)
    code, _, err = invoke()
    assert code == 143 and undone == ["volume"]
    assert err.splitlines()[0] == "tm probe: import image: interrupted: stopped by signal 15 (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is not driver._Signals._handle


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_is_never_caught_by_a_handler_that_logs_and_carries_on(env, monkeypatch, signum, status):
    undone = []

    def run(ctx):
        ctx.undo(undone.append, "volume")
        for catch in (OnespError, Exception):
            try:
                with ctx.step("best-effort cleanup"):
                    os.kill(os.getpid(), signum)
            except catch as exc:
                ctx.log.warning("carrying on: %s", exc)
        return "done"

    action(monkeypatch, run)
    code, out, err = invoke()
    assert (code, out, undone) == (status, "", ["volume"])
    assert err.splitlines()[0] == "tm probe: best-effort cleanup: interrupted: stopped by signal %d (%s)" % (
        signum, signal.Signals(signum).name)
    assert "carrying on" not in env.read_text()


def test_token_never_in_stderr_or_log(env, monkeypatch):
    def run(ctx):
        ctx.log.info("talking to %s with %s", ctx.sp, TOKEN)
        raise Busy("refused " + TOKEN)

    action(monkeypatch, run)
    _, _, err = invoke()
    assert TOKEN not in err and "***" in err
    assert TOKEN not in env.read_text()
    assert TOKEN not in repr(storpool.StorPool("h", 1, TOKEN))


def test_bad_config_is_one_line(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ONESP_READONLY_MODE", "rx")
    action(monkeypatch, lambda ctx: None)
    code, _, err = invoke()
    assert code == 1
    assert err.splitlines() == [
        "tm probe: load configuration: configuration error: READONLY_MODE in environment variable "
        "ONESP_READONLY_MODE: expected one of rw/ro, got 'rx'"]


def test_helper_modules_are_never_run_as_actions(env):
    code, _, err = invoke_named("_common")
    assert code == 1 and err.splitlines() == ["tm _common: bad input: unknown action tm _common"]


def invoke_named(action, argv=()):
    out, err = io.StringIO(), io.StringIO()
    code = driver.run_action("tm", action, list(argv), stdin=lambda: b"", stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_base64_driver_action_in_argv_is_not_logged(env, monkeypatch):
    import base64

    action(monkeypatch, lambda ctx: None)
    secret = base64.b64encode(("<DS_DRIVER_ACTION_DATA><SP_AUTH_TOKEN>%s</SP_AUTH_TOKEN>" % ("x" * 300)).encode())
    monkeypatch.setenv("ONESP_LOG_LEVEL", "debug")
    assert invoke([secret.decode(), "12"])[0] == 0
    log = env.read_text()
    assert secret.decode()[:40] not in log and "<%d bytes> 12" % len(secret) in log


def test_locks_are_released_when_the_action_ends(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ONESP_LOCK_DIR", str(tmp_path / "locks"))

    def run(ctx):
        ctx.lock("vm-7")
        raise Busy("after locking")

    action(monkeypatch, run)
    assert invoke()[0] == 1
    assert invoke()[0] == 1  # the same process locks again: the first run released it
    assert oct((tmp_path / "locks").stat().st_mode & 0o777) == "0o700"


def test_progress_feeds_a_terminal_display_and_the_log(env, monkeypatch):
    import logging

    from onesp.runtime import progress

    seen = []
    monkeypatch.setattr(progress, "DISPLAY", lambda *a: seen.append(a))
    monkeypatch.setattr(progress, "TICK", 0.01)
    counter = {"n": 0}

    def position():
        counter["n"] += 1024 * 1024
        return min(counter["n"], 8 * 1024 * 1024)

    import time

    with progress.Progress(logging.getLogger("onesp.test"), "copy x", 8 * 1024 * 1024, position):
        time.sleep(0.1)
    assert seen and seen[-1][3] is True and seen[-1][2] == 8 * 1024 * 1024
    assert any(not finished for *_, finished in seen)


def test_progress_bar_draws_one_line(capsys):
    from onesp.tools.commands.run import progress_bar

    progress_bar("import image 5", 512 * 1024 * 1024, 1024 * 1024 * 1024, False)
    progress_bar("import image 5", 1024 * 1024 * 1024, 1024 * 1024 * 1024, True)
    err = capsys.readouterr().err
    assert "[###############               ]  50% 512.0/1024.0 MiB" in err
    assert err.endswith("100% 1024.0/1024.0 MiB\n")

"""ds monitor: datastore capacity from the template's status, one StorPool call however many volumes exist."""

from __future__ import annotations

MIB = 1024 * 1024


def test_monitor_reports_the_template_space(stack, sp_seed):
    stack.put_image(5, size_mb=64)
    stack.write_volume("one-img-5", b"\x01" * (8 * MIB))
    sp_seed(2000, template="one-ds-100", size=MIB)
    status = next(t for t in stack.sp.templates_status() if t["name"] == "one-ds-100")["stored"]
    assert status["capacity"] > status["free"] > 0
    stack.ctl.reset_calls()
    r = stack.ds("monitor", "100", stdin=stack.ds_action())
    assert r.ok, r
    total, free = status["capacity"] // MIB, status["free"] // MIB
    used = (status["capacity"] - status["free"]) // MIB
    assert r.stdout == "USED_MB=%d\nTOTAL_MB=%d\nFREE_MB=%d\n" % (used, total, free)
    assert stack.ctl.counts() == {"VolumeTemplatesStatus": 1}
    argv_form = stack.ds("monitor", stack.ds_action().decode(), "100")
    assert argv_form.stdout == r.stdout


def test_monitor_without_a_template_is_one_line(stack):
    ds = stack.put_datastore(102)
    r = stack.ds("monitor", "102", stdin=stack.ds_action(ds))
    assert r.code != 0 and r.stdout == ""
    assert r.error_lines == ["ds monitor: read the space of template one-ds-102: not found: StorPool has no template "
                             "one-ds-102 for datastore 102"]
    mismatch = stack.ds("monitor", "100", stdin=stack.ds_action(ds))
    assert mismatch.error_lines == ["ds monitor: bad input: the driver action is for datastore 102, not 100"]

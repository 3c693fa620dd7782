"""Re-runs: every mutating action run twice in a row with the same arguments.

oned runs an action again after a timeout or a restart, not knowing whether the first run
completed. The second run must succeed, print what the first printed, and change nothing:
the StorPool state (volumes, snapshots, tags, attachments and the bytes of every volume
and snapshot) and the host state after it equal those after the first run.

One exception is compared by meaning rather than bytes: a context ISO. tm context rebuilds it
from oned's current state on every run, and mkisofs stamps each build with the time (volume
descriptors, Rock Ridge times) and offers no option to fix it; so the ISO is compared by its
files (names and contents, read with isoinfo), which a second run must leave unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from typing import Dict

import pytest

from onesp.runtime.naming import Names

from .cells import differences
from .scenarios import SCENARIOS, prepare, scenario_id
from .state import Snapshot, host_state
from .tally import TALLY
from .test_fault_matrix import skip_without_tools

NAMES = Names()  # the stacks use the default instance prefix
ISO_MAGIC_AT = 16 * 2048 + 1  # the primary volume descriptor's "CD001"

#: scenario -> why its second run changes something (a defect as reported, or a deliberate choice).
KNOWN_DEFECTS: Dict[str, str] = {
    "tm cpds": ("deliberate: run again, a save-as of a disk's current state copies that state again (the disk "
                "may have changed since), and the earlier copy one-img-12 goes through DELAY_DELETE"),
}


def _param(scenario):
    why = KNOWN_DEFECTS.get(scenario.name)
    marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
    return pytest.param(scenario, marks=marks, id=scenario_id(scenario))


def exact(stack) -> Snapshot:
    """The state with the content digest of every volume and snapshot, names as they are
    (a context ISO's digest taken over its files)."""
    state = stack.ctl.state(with_bytes=True)
    for name, volume in state["volumes"].items():
        parsed = NAMES.parse(name)
        if parsed is not None and parsed.kind == "context":
            image = stack.read_volume(name, volume["size"])
            if image[ISO_MAGIC_AT:ISO_MAGIC_AT + 5] == b"CD001":  # a scenario's seeded volume may hold other bytes
                if shutil.which("isoinfo") is None:
                    pytest.skip("comparing context ISOs needs isoinfo (genisoimage)")
                volume["digest"] = "files " + iso_files_digest(image)
    return Snapshot(state, host_state(stack))


def iso_files_digest(image: bytes) -> str:
    """SHA-1 over the paths and contents of the files in an ISO image."""
    digest = hashlib.sha1()
    with tempfile.NamedTemporaryFile(suffix=".iso") as handle:
        handle.write(image)
        handle.flush()
        listing = subprocess.run(["isoinfo", "-R", "-f", "-i", handle.name], capture_output=True, check=True)
        for path in sorted(listing.stdout.decode().split()):
            content = subprocess.run(["isoinfo", "-R", "-x", path, "-i", handle.name], capture_output=True,
                                     check=True).stdout
            digest.update(b"%s\0%d\0" % (path.encode(), len(content)) + content)
    return digest.hexdigest()


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS])
def test_a_second_run_succeeds_and_changes_nothing(stacks, scenario):
    skip_without_tools(scenario)
    stack = stacks[0]
    invocation = prepare(stack, scenario)
    first = invocation.run(stack)
    assert first.ok, first
    after_first = exact(stack)
    second = invocation.run(stack)
    assert second.ok, second
    assert second.error_lines == []
    assert second.stdout == first.stdout
    diff = differences(after_first, exact(stack))
    TALLY.add("re-runs", scenario.name, 1)
    assert not diff, "%s: the second run changed: %s" % (scenario.name, "; ".join(diff))

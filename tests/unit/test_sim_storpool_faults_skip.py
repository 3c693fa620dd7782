"""Fault rules with ``skip``: the first N calls a rule examines pass, the next one fails."""

from __future__ import annotations

import pytest

from onesp.sim.storpool.apierror import SimApiError
from onesp.sim.storpool.faults import FaultBook


def test_skip_fails_the_call_after_the_skipped_ones():
    book = FaultBook()
    book.add_fault({"call": "VolumesReassignWait", "error": "busy", "skip": 2})
    assert book.take("VolumesReassignWait", ["a"], "before") is None
    assert book.take("VolumeCreate", ["a"], "before") is None  # another call: not counted
    assert book.take("VolumesReassignWait", ["a"], "before") is None
    assert book.take("VolumesReassignWait", ["a"], "before").name == "busy"
    assert book.take("VolumesReassignWait", ["a"], "before") is None  # count 1: used up
    assert book.faults() == []


def test_skip_counts_only_calls_the_rule_examines():
    book = FaultBook()
    book.add_fault({"call": "VolumeUpdate", "error": "busy", "when": "after", "skip": 1, "match": "b"})
    assert book.take("VolumeUpdate", ["b"], "before") is None  # an "after" rule does not see this point
    assert book.take("VolumeUpdate", ["a"], "after") is None  # no match: not counted
    assert book.take("VolumeUpdate", ["b"], "after") is None  # skipped
    assert book.faults()[0]["skip"] == 0
    assert book.take("VolumeUpdate", ["b"], "after").name == "busy"


def test_a_skipping_rule_lets_a_later_rule_fire():
    book = FaultBook()
    book.add_fault({"call": "*", "error": "busy", "skip": 1})
    book.add_fault({"call": "Volume", "error": "objectDoesNotExist"})
    assert book.take("Volume", [], "before").name == "objectDoesNotExist"
    assert book.take("Volume", [], "before").name == "busy"
    assert book.take("Volume", [], "before") is None


def test_without_skip_rules_behave_as_before():
    book = FaultBook()
    rule = book.add_fault({"call": "VolumeDelete", "error": "busy", "count": 2})
    assert rule["skip"] == 0
    assert [book.take("VolumeDelete", [], "before").name for _ in range(2)] == ["busy", "busy"]
    assert book.take("VolumeDelete", [], "before") is None


@pytest.mark.parametrize("skip", [-1, "2", 1.5, True, None])
def test_bad_skip_values_are_refused(skip):
    with pytest.raises(SimApiError) as info:
        FaultBook().add_fault({"call": "Volume", "skip": skip})
    assert info.value.name == "invalidParam"

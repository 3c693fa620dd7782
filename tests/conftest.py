"""Shared pytest set-up: the stand-ins and helpers live in tests/fixtures/ as plugins.

Tests marked ``slow`` (fuzzing at 10,000 examples per target) are skipped unless
``ONESP_SLOW=1`` is set, so CI never spends its time on them::

    ONESP_SLOW=1 .venv/bin/python -m pytest -q -m slow
"""

import os

import pytest

pytest_plugins = [
    "fixtures.sim_storpool",
    "fixtures.sim_oned",
    "fixtures.stack",
]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slow") is not None and os.environ.get("ONESP_SLOW", "") != "1":
        pytest.skip("slow run kept out of CI: set ONESP_SLOW=1 to run it")

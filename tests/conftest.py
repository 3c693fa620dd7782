"""Shared pytest set-up: the stand-ins and helpers live in tests/fixtures/ as plugins."""

pytest_plugins = [
    "fixtures.sim_storpool",
    "fixtures.sim_oned",
    "fixtures.stack",
]

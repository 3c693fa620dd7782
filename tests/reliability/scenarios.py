"""Every mutating action with a starting state (setups.py, setups_tm.py), as the reliability
tests iterate over them.

``prepare(stack, scenario)`` resets an installation, builds the scenario's starting state
and returns the ``Invocation`` to run; the tests compare ``state.snapshot`` before and
after.
"""

from __future__ import annotations

import functools
import importlib
import shutil
from dataclasses import dataclass
from typing import Callable, FrozenSet, List, Tuple

from onesp.sim.stack import Invocation, Stack

from .setups import ds_clone, ds_cp, ds_mkfs, ds_rm, ds_snap, vmm_snapshot
from .setups_tm import (
    tm_clone,
    tm_context,
    tm_cpds,
    tm_delete,
    tm_delete_dir,
    tm_ln,
    tm_migration,
    tm_mkimage,
    tm_mkswap,
    tm_mv,
    tm_mv_dir,
    tm_mvds,
    tm_mvds_save_as,
    tm_resize,
    tm_snap,
)
from .state import fresh


@dataclass(frozen=True)
class Scenario:
    """One mutating action from one starting state.

    ``name`` starts with the action's kind and name (``tm delete disk``: tm/delete).
    ``needs``: host tools the action runs (the scenario is skipped where one is missing).
    """

    name: str
    build: Callable[[Stack], Invocation]
    needs: Tuple[str, ...] = ()
    private_hosts: bool = False

    @property
    def irreversible(self) -> FrozenSet[str]:
        """The calls past whose first success the action cannot roll back, as the action
        declares them (its module's ``POINT_OF_NO_RETURN``, a ``volumes.PointOfNoReturn``)."""
        kind, action = self.name.split()[:2]
        module = importlib.import_module("onesp.actions.%s.%s" % (kind, action))
        point = getattr(module, "POINT_OF_NO_RETURN", None)
        assert point is not None, "%s declares no POINT_OF_NO_RETURN" % module.__name__
        return point.calls

    def missing_tools(self) -> List[str]:
        missing = [tool for tool in self.needs if shutil.which(tool) is None]
        if self.private_hosts and not _private_hosts_supported():
            missing.append("a private mount namespace per host (root and unshare -m)")
        return missing


@functools.lru_cache(maxsize=None)
def _private_hosts_supported() -> bool:
    from onesp.tools.demo import private_hosts_supported

    return private_hosts_supported()

def prepare(stack: Stack, scenario: Scenario) -> Invocation:
    """Reset, build the scenario's starting state, clear the call log; returns the invocation."""
    fresh(stack)
    if scenario.private_hosts:
        stack.private_hosts()
    else:  # a stack is reused for many scenarios: back to one directory for all hosts
        stack.env.pop("ONESP_LOCAL_PRIVATE_DIR", None)
        stack.env.pop("ONESP_LOCAL_HOSTS_DIR", None)
    for host in (None, "node1", "node2"):  # hosts have their system datastore's directory
        (stack.host_root(host) / "101").mkdir(parents=True, exist_ok=True)
    invocation = scenario.build(stack)
    stack.ctl.reset_calls()
    return invocation


SCENARIOS: Tuple[Scenario, ...] = (
    Scenario("ds cp", ds_cp, needs=("qemu-img",)),
    Scenario("ds mkfs", ds_mkfs, needs=("mkfs.ext4",)),
    Scenario("ds rm", ds_rm),
    Scenario("ds clone", ds_clone),
    Scenario("ds snap_delete", ds_snap("snap_delete", 1)),
    Scenario("ds snap_revert", ds_snap("snap_revert", 0, template={"SP_QOSCLASS": "gold"})),
    Scenario("ds snap_flatten", ds_snap("snap_flatten", 0)),
    Scenario("tm clone", tm_clone),
    Scenario("tm ln", tm_ln),
    Scenario("tm mkimage", tm_mkimage, needs=("mkfs.ext4",)),
    Scenario("tm mkswap", tm_mkswap, needs=("mkswap",)),
    Scenario("tm context", tm_context, needs=("mkisofs",)),
    Scenario("tm mv disk", tm_mv, private_hosts=True),
    Scenario("tm mv dir", tm_mv_dir, private_hosts=True),
    Scenario("tm mvds", tm_mvds),
    Scenario("tm mvds save_as", tm_mvds_save_as),
    Scenario("tm cpds", tm_cpds),
    Scenario("tm delete disk", tm_delete),
    Scenario("tm delete dir", tm_delete_dir),
    Scenario("tm premigrate", tm_migration("premigrate", False), private_hosts=True),
    Scenario("tm postmigrate", tm_migration("postmigrate", True), private_hosts=True),
    Scenario("tm failmigrate", tm_migration("failmigrate", True), private_hosts=True),
    Scenario("tm snap_create", tm_snap("snap_create", 0)),
    Scenario("tm snap_delete", tm_snap("snap_delete", 1)),
    Scenario("tm snap_revert", tm_snap("snap_revert", 0)),
    Scenario("tm resize", tm_resize),
    Scenario("vmm snapshot_create", vmm_snapshot("snapshot_create-storpool", False)),
    Scenario("vmm snapshot_delete", vmm_snapshot("snapshot_delete-storpool", True)),
    Scenario("vmm snapshot_revert", vmm_snapshot("snapshot_revert-storpool", True)),
)

BY_NAME = {s.name: s for s in SCENARIOS}


def scenario_id(scenario: Scenario) -> str:
    return scenario.name.replace(" ", "-")

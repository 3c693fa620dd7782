"""What ``tm mv`` does, decided from the VM's LCM state.

oned emits MV lines for stop, undeploy, resume, cold migration (also of powered-off and
suspended VMs, and away from a host that is down), and again when the user retries one of
those after a failure, in which case the VM is in the matching ``*_FAILURE`` state. The
addon accepted only the first group and so made a retry impossible; here every retry
state does what its original state does (a completed step simply repeats as a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from ...runtime.errors import Unsupported
from ._migration import Change, Client, VmVolume

if TYPE_CHECKING:
    from ...one import Vm


@dataclass(frozen=True)
class MovePlan:
    """How volumes and files move for one LCM state."""

    state: str  # oned's name of the state, for messages
    detach: str  # "none", "source" (the source host's client) or "all" (every client)
    attach: bool  # attach on the destination host
    source_alive: bool  # the source host can be reached (files copied from it, its directory removed)
    detach_others: bool = False  # take attachments on the VM's earlier hosts away (FORCE_DETACH_OTHER_MV)
    undeploy: bool = False  # stop, undeploy or resume: SKIP_UNDEPLOY_SSH applies

    @property
    def detach_only(self) -> bool:
        return not self.attach


_MIGRATE = dict(detach="source", attach=True, source_alive=True)
_RESUME = dict(detach="none", attach=True, source_alive=True, undeploy=True)
_UNDEPLOY_RESUME = dict(detach="none", attach=True, source_alive=True, detach_others=True, undeploy=True)
_STOP = dict(detach="source", attach=False, source_alive=True, undeploy=True)
_UNDEPLOY = dict(detach="all", attach=False, source_alive=True, undeploy=True)
_UNKNOWN = dict(detach="source", attach=True, source_alive=False)

#: LCM_STATE -> (name, behaviour); *_FAILURE states are retries of the state before them.
_STATES: Dict[int, "tuple[str, Dict[str, object]]"] = {
    8: ("PROLOG_MIGRATE", _MIGRATE),
    38: ("PROLOG_MIGRATE_FAILURE", _MIGRATE),
    43: ("PROLOG_MIGRATE_POWEROFF", _MIGRATE),
    44: ("PROLOG_MIGRATE_POWEROFF_FAILURE", _MIGRATE),
    45: ("PROLOG_MIGRATE_SUSPEND", _MIGRATE),
    46: ("PROLOG_MIGRATE_SUSPEND_FAILURE", _MIGRATE),
    60: ("PROLOG_MIGRATE_UNKNOWN", _UNKNOWN),
    61: ("PROLOG_MIGRATE_UNKNOWN_FAILURE", _UNKNOWN),
    9: ("PROLOG_RESUME", _RESUME),
    49: ("PROLOG_RESUME_FAILURE", _RESUME),
    31: ("PROLOG_UNDEPLOY", _UNDEPLOY_RESUME),
    50: ("PROLOG_UNDEPLOY_FAILURE", _UNDEPLOY_RESUME),
    10: ("EPILOG_STOP", _STOP),
    41: ("EPILOG_STOP_FAILURE", _STOP),
    30: ("EPILOG_UNDEPLOY", _UNDEPLOY),
    42: ("EPILOG_UNDEPLOY_FAILURE", _UNDEPLOY),
}


def plan_for(vm: Vm) -> MovePlan:
    """The plan for the VM's current LCM state; any other state is refused before any change."""
    lcm = int(vm.lcm_state)
    if lcm not in _STATES:
        raise Unsupported("VM %s is in LCM state %d, in which oned does not move disks; nothing was changed"
                          % (vm.id, lcm))
    name, behaviour = _STATES[lcm]
    return MovePlan(state=name, **behaviour)  # type: ignore[arg-type]


def changes(plan: MovePlan, volumes: List[VmVolume], src: Optional[int], dst: Optional[int],
            others: Sequence[int] = ()) -> List[Change]:
    """The reassign changes of ``volumes`` for ``plan``; ``src``/``dst`` are the hosts' client
    ids (None for the front-end, which is no StorPool client). ``others`` are the clients of
    the VM's earlier hosts, whose stale attachments a resume from undeploy takes away.

    On one host (a move between system datastores, or stop on a front-end that is also a
    hypervisor) an attachment that must stay is left alone.
    """
    out: List[Change] = []
    same = src is not None and src == dst
    for volume in volumes:
        attach = dst if plan.attach else None
        detach: Optional[Client] = None
        restore: Optional[int] = None
        if plan.detach == "all":
            detach, restore = "all", src
        elif plan.detach == "source" and src is not None and not (same and plan.attach):
            detach, restore = (src,), src
        elif plan.detach_others and not volume.shared:
            stale = tuple(c for c in others if c != dst)
            detach = stale or None
        if detach is None and attach is None:
            continue
        out.append(Change(volume, detach, attach, restore))
    return out

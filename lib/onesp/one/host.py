"""The host document (``one.host.info``, ``one.hostpool.info``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from lxml import etree

from .fields import pool_object
from .template import Template

#: HOST/STATE values.
HOST_STATES = {
    0: "INIT", 1: "MONITORING_MONITORED", 2: "MONITORED", 3: "ERROR", 4: "DISABLED",
    5: "MONITORING_ERROR", 6: "MONITORING_INIT", 7: "MONITORING_DISABLED", 8: "OFFLINE",
}


@dataclass(frozen=True)
class Host:
    """One ``HOST``: id, name, state, drivers, cluster, its VMs and its template (SP_OURID)."""

    id: int
    name: str
    state: int
    prev_state: Optional[int]
    im_mad: Optional[str]
    vm_mad: Optional[str]
    cluster_id: Optional[int]
    cluster: Optional[str]
    vms: Tuple[int, ...]
    template: Template

    @classmethod
    def from_xml(cls, element: etree._Element) -> "Host":
        host_id, f = pool_object(element, "HOST")
        return cls(
            id=host_id,
            name=f.req_str("NAME"),
            state=f.req_int("STATE"),
            prev_state=f.opt_int("PREV_STATE"),
            im_mad=f.opt_str("IM_MAD"),
            vm_mad=f.opt_str("VM_MAD"),
            cluster_id=f.opt_int("CLUSTER_ID"),
            cluster=f.opt_str("CLUSTER"),
            vms=f.ids("VMS"),
            template=Template.from_xml(f.child("TEMPLATE"), f.path("TEMPLATE")),
        )

    @property
    def state_name(self) -> str:
        return HOST_STATES.get(self.state, str(self.state))

    @property
    def is_monitored(self) -> bool:
        """State 1 or 2: the host answers monitoring (the addon's bridge filter)."""
        return self.state in (1, 2)

    @property
    def sp_ourid(self) -> Optional[int]:
        """StorPool client id reported by the probe or set by hand (TEMPLATE/SP_OURID)."""
        return self.template.get_int("SP_OURID")

    @property
    def hostname(self) -> Optional[str]:
        """TEMPLATE/HOSTNAME as the probe reports it (may differ from NAME)."""
        return self.template.text("HOSTNAME")

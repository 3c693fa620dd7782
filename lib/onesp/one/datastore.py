"""The datastore document (``one.datastore.info``, ``DS_DRIVER_ACTION_DATA/DATASTORE``).

Template attributes are user-editable, so the typed properties parse on access:
a malformed attribute fails the action that needs it, naming the attribute, and
nothing else. The ``SP_*`` overrides are read by the configuration resolver
(``Config.with_datastore``) from the template. ``SP_AUTH_TOKEN`` is reachable but
never part of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from lxml import etree

from .fields import owner, pool_object
from .template import Template

#: DATASTORE/TYPE values.
DATASTORE_TYPES = {0: "IMAGE", 1: "SYSTEM", 2: "FILE", 3: "BACKUP"}


@dataclass(frozen=True)
class Datastore:
    """One ``DATASTORE``: ids, owner, drivers, type, state, capacity, its images and its template."""

    id: int
    name: str
    uid: int
    gid: int
    uname: Optional[str]
    gname: Optional[str]
    ds_mad: Optional[str]  # '-' for system datastores is kept verbatim
    tm_mad: Optional[str]
    base_path: Optional[str]
    type: int
    disk_type: Optional[int]
    state: int  # 0 READY, 1 DISABLED
    cluster_ids: Tuple[int, ...]
    total_mb: Optional[int]
    free_mb: Optional[int]
    used_mb: Optional[int]
    image_ids: Tuple[int, ...]
    template: Template

    @classmethod
    def from_xml(cls, element: etree._Element) -> "Datastore":
        ds_id, f = pool_object(element, "DATASTORE")
        return cls(
            id=ds_id,
            **owner(f),
            ds_mad=f.opt_str("DS_MAD"),
            tm_mad=f.opt_str("TM_MAD"),
            base_path=f.opt_str("BASE_PATH"),
            type=f.req_int("TYPE"),
            disk_type=f.opt_int("DISK_TYPE"),
            state=f.opt_int("STATE") or 0,
            cluster_ids=f.ids("CLUSTERS"),
            total_mb=f.opt_int("TOTAL_MB"),
            free_mb=f.opt_int("FREE_MB"),
            used_mb=f.opt_int("USED_MB"),
            image_ids=f.ids("IMAGES"),
            template=Template.from_xml(f.child("TEMPLATE"), f.path("TEMPLATE")),
        )

    @property
    def type_name(self) -> str:
        """IMAGE, SYSTEM, FILE or BACKUP."""
        return DATASTORE_TYPES.get(self.type, str(self.type))

    @property
    def is_system(self) -> bool:
        template_type = self.template.text("TYPE")
        return self.type == 1 or (template_type or "").upper() == "SYSTEM_DS"

    @property
    def cluster_id(self) -> Optional[int]:
        """The first cluster the datastore belongs to."""
        return self.cluster_ids[0] if self.cluster_ids else None

    @property
    def template_type(self) -> Optional[str]:
        """TEMPLATE/TYPE: IMAGE_DS, SYSTEM_DS, FILE_DS, BACKUP_DS."""
        return self.template.text("TYPE")

    @property
    def shared(self) -> Optional[bool]:
        return self.template.get_flag("SHARED")

    @property
    def bridge_list(self) -> Tuple[str, ...]:
        return self.template.words("BRIDGE_LIST")

    # Other attributes actions read -----------------------------------------
    @property
    def limit_transfer_bw(self) -> Optional[str]:
        return self.template.text("LIMIT_TRANSFER_BW")

    @property
    def restricted_dirs(self) -> Tuple[str, ...]:
        return self.template.words("RESTRICTED_DIRS")

    @property
    def safe_dirs(self) -> Tuple[str, ...]:
        return self.template.words("SAFE_DIRS")

    @property
    def staging_dir(self) -> Optional[str]:
        return self.template.text("STAGING_DIR")

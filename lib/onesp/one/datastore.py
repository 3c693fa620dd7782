"""The datastore document (``one.datastore.info``, ``DS_DRIVER_ACTION_DATA/DATASTORE``).

Template attributes are user-editable, so the typed ``sp_*`` properties parse
on access: a malformed SP_REPLICATION fails the action that needs it, naming
the attribute, and nothing else. ``sp_attributes`` hands every ``SP_*``
override to the configuration resolver at once. ``SP_AUTH_TOKEN`` is
reachable but never part of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from lxml import etree

from .fields import owner, pool_object
from .template import Template

#: DATASTORE/TYPE values.
DATASTORE_TYPES = {0: "IMAGE", 1: "SYSTEM", 2: "FILE", 3: "BACKUP"}


@dataclass(frozen=True)
class Datastore:
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

    @property
    def export_bridge_list(self) -> Tuple[str, ...]:
        return self.template.words("EXPORT_BRIDGE_LIST")

    def sp_attributes(self) -> Dict[str, str]:
        """Every non-empty ``SP_*`` template attribute, raw (per-datastore overrides)."""
        return {k: v.strip() for k, v in self.template.with_prefix("SP_").items() if v.strip()}

    # StorPool attributes -------------------------------------------------
    @property
    def sp_qosclass(self) -> Optional[str]:
        return self.template.text("SP_QOSCLASS")

    @property
    def sp_system(self) -> Optional[str]:
        return self.template.text("SP_SYSTEM")

    @property
    def sp_template(self) -> Optional[str]:
        return self.template.text("SP_TEMPLATE")

    @property
    def sp_replication(self) -> Optional[int]:
        return self.template.get_int("SP_REPLICATION")

    @property
    def sp_placeall(self) -> Optional[str]:
        return self.template.text("SP_PLACEALL")

    @property
    def sp_placetail(self) -> Optional[str]:
        return self.template.text("SP_PLACETAIL")

    @property
    def sp_placehead(self) -> Optional[str]:
        return self.template.text("SP_PLACEHEAD")

    @property
    def sp_iops(self) -> Optional[str]:
        """Raw: a number or '-' (unlimited)."""
        return self.template.text("SP_IOPS")

    @property
    def sp_bw(self) -> Optional[str]:
        """Raw: a bandwidth or '-' (unlimited)."""
        return self.template.text("SP_BW")

    @property
    def sp_api_http_host(self) -> Optional[str]:
        return self.template.text("SP_API_HTTP_HOST")

    @property
    def sp_api_http_port(self) -> Optional[int]:
        return self.template.get_int("SP_API_HTTP_PORT")

    @property
    def sp_auth_token(self) -> Optional[str]:
        return self.template.text("SP_AUTH_TOKEN")

    @property
    def sp_clone_gw(self) -> Optional[str]:
        return self.template.text("SP_CLONE_GW")

    @property
    def sp_cluster_id(self) -> Optional[str]:
        return self.template.text("SP_CLUSTER_ID")

    @property
    def sp_template_propagate(self) -> Optional[str]:
        return self.template.text("SP_TEMPLATE_PROPAGATE")

    @property
    def sp_skip_monitor(self) -> Optional[str]:
        return self.template.text("SP_SKIP_MONITOR")

    # Other attributes actions read -----------------------------------------
    @property
    def vmsnapshot_limit(self) -> Optional[int]:
        return self.template.get_int("VMSNAPSHOT_LIMIT")

    @property
    def disksnapshot_limit(self) -> Optional[int]:
        return self.template.get_int("DISKSNAPSHOT_LIMIT")

    @property
    def remote_backup_delete(self) -> Optional[str]:
        return self.template.text("REMOTE_BACKUP_DELETE")

    @property
    def no_decompress(self) -> Optional[str]:
        return self.template.text("NO_DECOMPRESS")

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

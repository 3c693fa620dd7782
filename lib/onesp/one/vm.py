"""The VM document (``one.vm.info``, premigrate stdin, backup stdin) as a typed view."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, List, Optional, Tuple

from lxml import etree

from ..runtime.errors import NotFound
from .disk import Disk, parse_disks
from .fields import Fields, owner, pool_object
from .template import Template

#: VM STATE values (reference section 8.1).
VM_STATES = {
    0: "INIT", 1: "PENDING", 2: "HOLD", 3: "ACTIVE", 4: "STOPPED", 5: "SUSPENDED",
    6: "DONE", 8: "POWEROFF", 9: "UNDEPLOYED", 10: "CLONING", 11: "CLONING_FAILURE",
}


@dataclass(frozen=True)
class History:
    """One ``HISTORY_RECORDS/HISTORY``: a placement of the VM on a host and system datastore.

    The short bodies of ``one.vmpool.info`` lack the times; 6.x lacks
    PLAN_ID/ACTION_ID (7.0 added them): those are None then.
    """

    seq: int
    hostname: str
    hid: int
    cid: Optional[int]
    ds_id: int  # system datastore
    tm_mad: Optional[str]  # TM_MAD of the system datastore
    vm_mad: Optional[str]
    action: Optional[int]
    stime: Optional[int]
    etime: Optional[int]
    plan_id: Optional[int]
    action_id: Optional[int]

    @classmethod
    def from_xml(cls, element: etree._Element, where: str) -> "History":
        f = Fields(element, where)
        return cls(
            seq=f.req_int("SEQ"),
            hostname=f.req_str("HOSTNAME"),
            hid=f.req_int("HID"),
            cid=f.opt_int("CID"),
            ds_id=f.req_int("DS_ID"),
            tm_mad=f.opt_str("TM_MAD"),
            vm_mad=f.opt_str("VM_MAD"),
            action=f.opt_int("ACTION"),
            stime=f.opt_int("STIME"),
            etime=f.opt_int("ETIME"),
            plan_id=f.opt_int("PLAN_ID"),
            action_id=f.opt_int("ACTION_ID"),
        )


@dataclass(frozen=True)
class VmSnapshot:
    """A system (whole-VM) snapshot, ``VM/TEMPLATE/SNAPSHOT``; unrelated to disk snapshots."""

    snapshot_id: int
    hypervisor_id: Optional[str]  # what the snapshot_create driver printed
    name: Optional[str]
    time: Optional[int]
    active: bool
    action: Optional[str]
    system_disk_size: Optional[int]

    @classmethod
    def from_xml(cls, element: etree._Element, where: str) -> "VmSnapshot":
        f = Fields(element, where)
        return cls(
            snapshot_id=f.req_int("SNAPSHOT_ID"),
            hypervisor_id=f.opt_str("HYPERVISOR_ID"),
            name=f.opt_str("NAME"),
            time=f.opt_int("TIME"),
            active=f.flag("ACTIVE"),
            action=f.opt_str("ACTION"),
            system_disk_size=f.opt_int("SYSTEM_DISK_SIZE"),
        )


@dataclass(frozen=True)
class BackupConfig:
    """``VM/BACKUPS/BACKUP_CONFIG`` plus the ids of the VM's backup images."""

    backup_volatile: Optional[bool]
    fs_freeze: Optional[str]
    keep_last: Optional[int]
    mode: Optional[str]  # FULL / INCREMENT
    increment_mode: Optional[str]
    backup_job_id: Optional[int]
    last_datastore_id: Optional[int]
    last_backup_id: Optional[int]
    last_backup_size: Optional[int]
    last_increment_id: Optional[int]
    incremental_backup_id: Optional[int]
    active_flatten: Optional[bool]
    backup_ids: Tuple[int, ...]
    attributes: Template

    @classmethod
    def from_xml(cls, element: Optional[etree._Element], where: str) -> "BackupConfig":
        holder = element.find("BACKUP_CONFIG") if element is not None else None
        f = Fields(holder if holder is not None else etree.Element("BACKUP_CONFIG"), where + "/BACKUP_CONFIG")
        ids = Fields(element, where).ids("BACKUP_IDS") if element is not None else ()
        return cls(
            backup_volatile=f.opt_flag("BACKUP_VOLATILE"),
            fs_freeze=f.opt_str("FS_FREEZE"),
            keep_last=f.opt_int("KEEP_LAST"),
            mode=f.opt_str("MODE"),
            increment_mode=f.opt_str("INCREMENT_MODE"),
            backup_job_id=f.opt_int("BACKUP_JOB_ID"),
            last_datastore_id=f.opt_int("LAST_DATASTORE_ID"),
            last_backup_id=f.opt_int("LAST_BACKUP_ID"),
            last_backup_size=f.opt_int("LAST_BACKUP_SIZE"),
            last_increment_id=f.opt_int("LAST_INCREMENT_ID"),
            incremental_backup_id=f.opt_int("INCREMENTAL_BACKUP_ID"),
            active_flatten=f.opt_flag("ACTIVE_FLATTEN"),
            backup_ids=ids,
            attributes=Template.from_xml(holder, where + "/BACKUP_CONFIG"),
        )


@dataclass(frozen=True)
class Vm:
    """A VM as oned describes it. Built from full documents and from the short pool bodies.

    ``template`` is ``VM/TEMPLATE`` and ``user_template`` ``VM/USER_TEMPLATE``,
    both raw; the user-template attributes actions use have typed properties
    that parse on access (they are user-editable, so a bad value only fails
    the action that needs it). Both templates, the context section and the backup
    configuration are read from the element on first use, like a disk's snapshots: a
    pool read for monitoring needs none of them.
    """

    id: int
    name: str
    uid: int
    gid: int
    uname: Optional[str]
    gname: Optional[str]
    state: int
    lcm_state: int
    prev_state: Optional[int]
    prev_lcm_state: Optional[int]
    deploy_id: Optional[str]
    locked: bool
    disks: Tuple[Disk, ...]
    context_disk_id: Optional[int]
    tm_mad_system: Optional[str]
    memory: Optional[int]  # MB
    tpm_model: Optional[str]
    history: Tuple[History, ...]
    vm_snapshots: Tuple[VmSnapshot, ...]
    _element: etree._Element = field(repr=False, compare=False)
    _where: str = field(repr=False, compare=False)

    @classmethod
    def from_xml(cls, element: etree._Element) -> "Vm":
        vm_id, f = pool_object(element, "VM")
        where = f.where
        tmpl_el = f.child("TEMPLATE")
        tmpl = Fields(tmpl_el if tmpl_el is not None else etree.Element("TEMPLATE"), where + "/TEMPLATE")
        context_el = tmpl.child("CONTEXT")
        context_disk_id = None
        if context_el is not None:
            context_disk_id = Fields(context_el, where + "/TEMPLATE/CONTEXT").opt_int("DISK_ID")
        tpm = tmpl.child("TPM")
        snaps_by_disk: Dict[int, Tuple[etree._Element, str]] = {}
        for index, node in enumerate(f.children("SNAPSHOTS"), 1):
            snap_where = "%s/SNAPSHOTS[%d]" % (where, index)
            snaps_by_disk[Fields(node, snap_where).req_int("DISK_ID")] = (node, snap_where)
        history_el = f.child("HISTORY_RECORDS")
        history: List[History] = []
        if history_el is not None:
            for index, node in enumerate(history_el.findall("HISTORY"), 1):
                history.append(History.from_xml(node, "%s/HISTORY_RECORDS/HISTORY[%d]" % (where, index)))
        vm_snaps = tuple(
            VmSnapshot.from_xml(node, "%s/TEMPLATE/SNAPSHOT[%d]" % (where, index))
            for index, node in enumerate(tmpl.children("SNAPSHOT"), 1)
        )
        return cls(
            id=vm_id,
            **owner(f),
            state=f.req_int("STATE"),
            lcm_state=f.req_int("LCM_STATE"),
            prev_state=f.opt_int("PREV_STATE"),
            prev_lcm_state=f.opt_int("PREV_LCM_STATE"),
            deploy_id=f.opt_str("DEPLOY_ID"),
            locked=f.child("LOCK") is not None,
            disks=parse_disks(tmpl_el, where + "/TEMPLATE", vm_id, snaps_by_disk),
            context_disk_id=context_disk_id,
            tm_mad_system=tmpl.opt_str("TM_MAD_SYSTEM"),
            memory=tmpl.opt_int("MEMORY"),
            tpm_model=Fields(tpm, where + "/TEMPLATE/TPM").opt_str("MODEL") if tpm is not None else None,
            history=tuple(history),
            vm_snapshots=vm_snaps,
            _element=element,
            _where=where,
        )

    @cached_property
    def template(self) -> Template:
        return Template.from_xml(self._element.find("TEMPLATE"), self._where + "/TEMPLATE")

    @cached_property
    def user_template(self) -> Template:
        return Template.from_xml(self._element.find("USER_TEMPLATE"), self._where + "/USER_TEMPLATE")

    @cached_property
    def context(self) -> Optional[Template]:
        """``VM/TEMPLATE/CONTEXT``, None when the VM has no context section."""
        template = self._element.find("TEMPLATE")
        element = template.find("CONTEXT") if template is not None else None
        return None if element is None else Template.from_xml(element, self._where + "/TEMPLATE/CONTEXT")

    @cached_property
    def backup(self) -> BackupConfig:
        return BackupConfig.from_xml(self._element.find("BACKUPS"), self._where + "/BACKUPS")

    # Disks ------------------------------------------------------------
    def disk(self, disk_id: int) -> Disk:
        """The disk with DISK_ID ``disk_id``; NotFound naming the disk and the VM otherwise."""
        for disk in self.disks:
            if disk.disk_id == disk_id:
                return disk
        raise NotFound("VM %d has no disk %d" % (self.id, disk_id))

    def has_disk(self, disk_id: int) -> bool:
        return any(disk.disk_id == disk_id for disk in self.disks)

    @property
    def attaching_disk(self) -> Optional[Disk]:
        """The disk being hot-attached (``ATTACH=YES``), if any."""
        for disk in self.disks:
            if disk.attach:
                return disk
        return None

    # Placement --------------------------------------------------------
    @property
    def current_history(self) -> Optional[History]:
        """The last history record: where the VM is (or is going) now."""
        return self.history[-1] if self.history else None

    @property
    def previous_history(self) -> Optional[History]:
        """The record before the last: the source of a migration."""
        return self.history[-2] if len(self.history) > 1 else None

    @property
    def hostname(self) -> Optional[str]:
        current = self.current_history
        return current.hostname if current else None

    @property
    def system_ds_id(self) -> Optional[int]:
        current = self.current_history
        return current.ds_id if current else None

    @property
    def state_name(self) -> str:
        return VM_STATES.get(self.state, str(self.state))

    def vm_snapshot(self, snapshot_id: int) -> VmSnapshot:
        for snap in self.vm_snapshots:
            if snap.snapshot_id == snapshot_id:
                return snap
        raise NotFound("VM %d has no snapshot %d" % (self.id, snapshot_id))

    # User template attributes ------------------------------------------
    @property
    def vc_policy(self) -> Optional[str]:
        return self.user_template.text("VC_POLICY")

    @property
    def t_persistent_cdrom(self) -> Optional[str]:
        return self.user_template.text("T_PERSISTENT_CDROM")

    @property
    def t_os_nvram(self) -> Optional[str]:
        return self.user_template.text("T_OS_NVRAM")

    @property
    def include_context_packages(self) -> Optional[str]:
        return self.user_template.text("INCLUDE_CONTEXT_PACKAGES")

    @property
    def vmsnapshot_with_checkpoint(self) -> Optional[str]:
        return self.user_template.text("VMSNAPSHOT_WITH_CHECKPOINT")

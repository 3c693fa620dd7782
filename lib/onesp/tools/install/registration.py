"""What registering the ``storpool`` drivers in oned.conf means, as edits that can be undone.

The registration is a list of items (``items.py``): ``storpool`` in the TM_MAD ``-d`` and
DATASTORE_MAD ``-d``/``-s`` lists, the TM_MAD_CONF and DS_MAD_CONF blocks, the
VM_RESTRICTED_ATTR and IMAGE_RESTRICTED_ATTR lines and, for the VMM helpers that are installed, the VM_MAD kvm
``-l`` overrides. What was added is returned as records; things the operator configured
before us are never recorded, so removing the registration leaves them alone. Values are
those of the bash addon's installer, so oned treats our datastores as it treated the addon's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import FrozenSet, List, Sequence, Tuple

from . import onedconf
from .items import DRIVER, Block, BlockKeys, Item, LocalActions, MadList, Record, Restricted
from .onedconf import Document, OnedConfError

__all__ = ["Block", "BlockKeys", "DRIVER", "LocalActions", "MadList", "Plan", "Record", "Restricted", "missing", "register",
           "unregister"]

#: OpenNebula 7.2+ reads these as NO when absent (src/datastore/Datastore.cc), which refuses a
#: live move to another system datastore and any move of a VM with disk snapshots; they are also
#: added to a storpool TM_MAD_CONF written before. Such a move keeps the VM's volumes where they
#: are, and disk snapshots are StorPool snapshots, which do not depend on the system datastore.
TM_MAD_CONF_7_2: Tuple[Tuple[str, str], ...] = (("DS_LIVE_MIGRATE", "YES"), ("DS_MIGRATE_SNAP", "YES"))
#: DISK_TYPE: oned copies it into every image datastore with TM_MAD storpool (Datastore::set_tm_mad),
#: so each image disk reaches libvirt as ``<disk type='block'>`` whatever the datastore template says.
TM_MAD_CONF: Tuple[Tuple[str, str], ...] = (
    ("NAME", DRIVER), ("LN_TARGET", "NONE"), ("CLONE_TARGET", "SELF"), ("SHARED", "YES"),
    ("DS_MIGRATE", "YES"), ("DRIVER", "raw"), ("ALLOW_ORPHANS", "YES"), ("DISK_TYPE", "BLOCK"),
) + TM_MAD_CONF_7_2
DS_MAD_CONF: Tuple[Tuple[str, str], ...] = (
    ("NAME", DRIVER), ("REQUIRED_ATTRS", "DISK_TYPE"), ("PERSISTENT_ONLY", "NO"), ("MARKETPLACE_ACTIONS", "export"),
)
#: VM template attributes only oneadmin may set: the first four change cost or limits on StorPool;
#: T_OS_NVRAM names a front-end file copied into a volume, T_OS and T_OS_LOADER drive the addon's
#: UEFI deploy tweak where it is still in use (the addon restricted them too); CONTEXT/FILES names
#: front-end files tm context packs into the ISO (stock oned.conf restricts it already: ensured).
RESTRICTED_ATTRS = ("DISKSNAPSHOT_LIMIT", "VMSNAPSHOT_LIMIT", "VC_POLICY", "SP_QOSCLASS",
                    "T_OS_NVRAM", "T_OS", "T_OS_LOADER", "CONTEXT/FILES")
#: Image template attributes only oneadmin may set: SP_QOSCLASS is the image volume's QoS class.
IMAGE_RESTRICTED_ATTRS = ("SP_QOSCLASS",)
#: VM_MAD kvm ``-l`` overrides: (action, helper script in vmm/kvm/).
HOTPLUG_HELPERS = (("attach_disk", "attach_disk.storpool"), ("detach_disk", "detach_disk.storpool"))
#: The deploy helper adds the empty CD-ROM trays T_PERSISTENT_CDROM asks for, then runs the stock deploy.
DEPLOY_HELPERS = (("deploy", "deploy.storpool"),)
#: Memory checkpoints in a StorPool volume (SP_CHECKPOINT / SP_CHECKPOINT_BD): registered only with the option on.
CHECKPOINT_HELPERS = (("save", "save-storpool"), ("restore", "restore-storpool"))
SNAPSHOT_HELPERS = (
    ("snapshotcreate", "snapshot_create-storpool"),
    ("snapshotrevert", "snapshot_revert-storpool"),
    ("snapshotdelete", "snapshot_delete-storpool"),
)
#: one_datastore's system-datastore list when ARGUMENTS has no ``-s``.
SYSTEM_DS_DEFAULTS = ("shared", "ssh", "ceph")


@dataclass(frozen=True)
class Plan:
    """What to register: the VMM helpers present in the remotes tree, and whether the
    atomic VM snapshot override (VMSNAPSHOT_OVERRIDE) and memory checkpoints on StorPool
    (SP_CHECKPOINT, SP_CHECKPOINT_BD) are on."""

    helpers: FrozenSet[str] = frozenset()
    vm_snapshots: bool = True
    checkpoints: bool = False

    def local_actions(self) -> Tuple[Tuple[str, str], ...]:
        wanted = (DEPLOY_HELPERS + HOTPLUG_HELPERS + (SNAPSHOT_HELPERS if self.vm_snapshots else ())
                  + (CHECKPOINT_HELPERS if self.checkpoints else ()))
        return tuple(pair for pair in wanted if pair[1] in self.helpers)

    def without_deploy(self) -> "Plan":
        """The same plan without the deploy helper (``onesp doctor``: its absence only costs the CD-ROM trays)."""
        return Plan(self.helpers - {script for _, script in DEPLOY_HELPERS}, self.vm_snapshots, self.checkpoints)

    def items(self) -> List["Item"]:
        found: List[Item] = [
            MadList("TM_MAD", "one_tm", "-d", "--tm-types", None),
            MadList("DATASTORE_MAD", "one_datastore", "-d", "--ds-types", None),
            MadList("DATASTORE_MAD", "one_datastore", "-s", "--system-ds-types", SYSTEM_DS_DEFAULTS),
            BlockKeys("TM_MAD_CONF", TM_MAD_CONF_7_2),
            Block("TM_MAD_CONF", TM_MAD_CONF),
            Block("DS_MAD_CONF", DS_MAD_CONF),
        ]
        found += [Restricted(name) for name in RESTRICTED_ATTRS]
        found += [Restricted(name, "IMAGE_RESTRICTED_ATTR") for name in IMAGE_RESTRICTED_ATTRS]
        if self.local_actions():
            found.append(LocalActions("kvm", self.local_actions()))
        return found


@dataclass
class Outcome:
    text: str
    records: List[Record] = field(default_factory=list)
    added: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.records)


def register(text: str, plan: Plan) -> Outcome:
    """Add whatever of the registration ``text`` lacks. Raises OnedConfError (text unusable)."""
    doc = onedconf.parse(text)
    outcome = Outcome(text)
    for item in plan.items():
        new, record, notes = item.add(doc)
        outcome.notes += notes
        if record is None:
            continue
        doc = _reparsed(new, item)
        outcome.records.append(record)
        outcome.added.append(item.describe())
    outcome.text = doc.text
    return outcome


def unregister(text: str, records: Sequence[Record]) -> Outcome:
    """Take back exactly what ``records`` say was added, newest first."""
    doc = onedconf.parse(text)
    items = {item.key: item for item in _all_items()}
    outcome = Outcome(text)
    for record in reversed(list(records)):
        item = items.get(record.get("item", ""))
        if item is None:
            outcome.notes.append("unknown record %r left alone" % (record,))
            continue
        new = item.remove(doc, record)
        if new != doc.text:
            doc = _reparsed(new, item)
            outcome.records.append(record)
            outcome.added.append(item.describe())
    outcome.text = doc.text
    return outcome


def missing(text: str, plan: Plan) -> List[str]:
    """What of the registration oned.conf lacks (empty: fully registered)."""
    doc = onedconf.parse(text)
    found: List[str] = []
    for item in plan.items():
        found += item.missing(doc)
    return found


def differences(text: str) -> List[str]:
    """Existing storpool TM_MAD_CONF/DS_MAD_CONF values that differ from onesp's."""
    doc = onedconf.parse(text)
    return Block("TM_MAD_CONF", TM_MAD_CONF).differences(doc) + Block("DS_MAD_CONF", DS_MAD_CONF).differences(doc)


def _all_items() -> List[Item]:
    """Every item a record can name, whatever the plan was when it was added."""
    helpers = DEPLOY_HELPERS + HOTPLUG_HELPERS + SNAPSHOT_HELPERS + CHECKPOINT_HELPERS
    return Plan(frozenset(script for _, script in helpers), True, True).items()


def _reparsed(text: str, item: Item) -> Document:
    try:
        return onedconf.parse(text)
    except OnedConfError as exc:  # an edit must never produce a file oned cannot read
        raise OnedConfError("editing %s would break the file (%s); nothing was written" % (item.describe(), exc)) from exc

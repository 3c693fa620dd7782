"""What registering the ``storpool`` drivers in oned.conf means, as edits that can be undone.

Each item knows whether oned.conf already has it (``present``), how to add it with the
smallest change (``add`` returns a record of what it did) and how to take back exactly
what it added (``remove`` with that record). Things the operator configured before us are
never recorded, so removing the registration leaves them alone. Values are those of the
bash addon's installer (addon-behaviour.md 8.2), so oned treats our datastores as it
treated the addon's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from . import onedconf, options
from .onedconf import Document, Entry, OnedConfError

DRIVER = "storpool"
TM_MAD_CONF: Tuple[Tuple[str, str], ...] = (
    ("NAME", DRIVER), ("LN_TARGET", "NONE"), ("CLONE_TARGET", "SELF"), ("SHARED", "YES"),
    ("DS_MIGRATE", "YES"), ("DRIVER", "raw"), ("ALLOW_ORPHANS", "YES"),
)
DS_MAD_CONF: Tuple[Tuple[str, str], ...] = (
    ("NAME", DRIVER), ("REQUIRED_ATTRS", "DISK_TYPE"), ("PERSISTENT_ONLY", "NO"), ("MARKETPLACE_ACTIONS", "export"),
)
#: VM template attributes only oneadmin may set (they change cost or limits on StorPool).
RESTRICTED_ATTRS = ("DISKSNAPSHOT_LIMIT", "VMSNAPSHOT_LIMIT", "VC_POLICY", "SP_QOSCLASS")
#: VM_MAD kvm ``-l`` overrides: (action, helper script in vmm/kvm/).
HOTPLUG_HELPERS = (("attach_disk", "attach_disk.storpool"), ("detach_disk", "detach_disk.storpool"))
SNAPSHOT_HELPERS = (
    ("snapshotcreate", "snapshot_create-storpool"),
    ("snapshotrevert", "snapshot_revert-storpool"),
    ("snapshotdelete", "snapshot_delete-storpool"),
)
#: one_datastore's system-datastore list when ARGUMENTS has no ``-s``.
SYSTEM_DS_DEFAULTS = ("shared", "ssh", "ceph")

Record = Dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """What to register: the VMM helpers present in the remotes tree, and whether the
    atomic VM snapshot override (VMSNAPSHOT_OVERRIDE) is on."""

    helpers: FrozenSet[str] = frozenset()
    vm_snapshots: bool = True

    def local_actions(self) -> Tuple[Tuple[str, str], ...]:
        wanted = HOTPLUG_HELPERS + (SNAPSHOT_HELPERS if self.vm_snapshots else ())
        return tuple(pair for pair in wanted if pair[1] in self.helpers)

    def items(self) -> List["Item"]:
        found: List[Item] = [
            MadList("TM_MAD", "one_tm", "-d", "--tm-types", None),
            MadList("DATASTORE_MAD", "one_datastore", "-d", "--ds-types", None),
            MadList("DATASTORE_MAD", "one_datastore", "-s", "--system-ds-types", SYSTEM_DS_DEFAULTS),
            Block("TM_MAD_CONF", TM_MAD_CONF),
            Block("DS_MAD_CONF", DS_MAD_CONF),
        ]
        found += [Restricted(name) for name in RESTRICTED_ATTRS]
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


class Item:
    key = ""

    def describe(self) -> str:
        raise NotImplementedError

    def missing(self, doc: Document) -> List[str]:
        """What of this item oned.conf lacks (empty when registered)."""
        raise NotImplementedError

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        raise NotImplementedError

    def remove(self, doc: Document, record: Record) -> str:
        raise NotImplementedError


def _arguments(entry: Entry, doc: Document) -> Tuple[Optional[onedconf.Value], Optional[str]]:
    """The ARGUMENTS value of a MAD entry, if it can be edited in place; else why not."""
    attribute = entry.attribute("ARGUMENTS")
    if attribute is None:
        return None, "%s at line %d has no ARGUMENTS" % (entry.name, doc.line_of(entry.start))
    value = attribute.value
    raw = doc.text[value.inner_start:value.end - 1] if value.quoted else ""
    if not value.quoted or raw != value.text:
        return None, "ARGUMENTS of %s at line %d is not a plain quoted string" % (entry.name, doc.line_of(entry.start))
    return value, None


def _set_arguments(doc: Document, value: onedconf.Value, new: str) -> str:
    return onedconf.splice(doc.text, value.inner_start, value.end - 1, new)


class MadList(Item):
    """``storpool`` in a comma list option of a MAD's ARGUMENTS (``TM_MAD -d``...)."""

    def __init__(self, entry: str, executable: str, short: str, long: str,
                 absent_default: Optional[Sequence[str]]) -> None:
        self.entry = entry
        self.executable = executable
        self.short = short
        self.long = long
        #: the list the MAD uses when the option is absent; None = every installed driver
        self.absent_default = tuple(absent_default) if absent_default is not None else None
        self.key = "%s %s %s" % (entry, short, DRIVER)

    def describe(self) -> str:
        return '%s in the %s list of %s (EXECUTABLE="%s") ARGUMENTS' % (DRIVER, self.short, self.entry, self.executable)

    def _entries(self, doc: Document) -> List[Entry]:
        return doc.vectors(self.entry, EXECUTABLE=self.executable)

    def _has(self, args: str) -> bool:
        option = options.find(args, self.short, self.long)
        if option is None:
            return self.absent_default is None
        return DRIVER in option.items(args)

    def missing(self, doc: Document) -> List[str]:
        entries = self._entries(doc)
        if not entries:
            return ['%s with EXECUTABLE="%s" (not found)' % (self.entry, self.executable)]
        value = entries[-1].attribute("ARGUMENTS")
        if value is None:
            return [] if self.absent_default is None else [self.describe()]
        return [] if self._has(value.value.text) else [self.describe()]

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        entries = self._entries(doc)
        if not entries:
            return doc.text, None, ['no %s with EXECUTABLE="%s": add %s by hand' % (self.entry, self.executable, self.describe())]
        value, problem = _arguments(entries[-1], doc)
        if value is None:
            return doc.text, None, ["%s: add %s by hand" % (problem, self.describe())]
        args = value.text
        if self._has(args):
            return doc.text, None, []
        option = options.find(args, self.short, self.long)
        if option is None:
            new = options.append_option(args, self.short, (self.absent_default or ()) + (DRIVER,))
            return _set_arguments(doc, value, new), {"item": self.key, "created_option": True}, []
        return _set_arguments(doc, value, options.add_item(args, option, DRIVER)), {"item": self.key}, []

    def remove(self, doc: Document, record: Record) -> str:
        entries = self._entries(doc)
        value = _arguments(entries[-1], doc)[0] if entries else None
        option = options.find(value.text, self.short, self.long) if value else None
        if value is None or option is None:
            return doc.text
        args = value.text
        left = tuple(item for item in option.items(args) if item != DRIVER)
        if record.get("created_option") and left in ((), self.absent_default):
            return _set_arguments(doc, value, options.drop_option(args, option))
        return _set_arguments(doc, value, options.remove_item(args, option, DRIVER))


class LocalActions(Item):
    """``-l action=script,...`` in VM_MAD NAME=kvm: VMM actions run by our helpers on the front-end."""

    def __init__(self, vm_mad: str, pairs: Sequence[Tuple[str, str]]) -> None:
        self.vm_mad = vm_mad
        self.pairs = tuple(pairs)
        self.key = "VM_MAD %s -l" % vm_mad

    def describe(self) -> str:
        return 'VM_MAD NAME="%s" ARGUMENTS -l %s' % (self.vm_mad, ",".join("%s=%s" % p for p in self.pairs))

    def _entry(self, doc: Document) -> Optional[Entry]:
        entries = doc.vectors("VM_MAD", NAME=self.vm_mad)
        return entries[-1] if entries else None

    @staticmethod
    def _mapping(args: str) -> Dict[str, str]:
        option = options.find(args, "-l", "--local")
        found = {}
        for item in option.items(args) if option else []:
            action, _, script = item.partition("=")
            found[action.strip()] = script.strip() or action.strip()
        return found

    def missing(self, doc: Document) -> List[str]:
        entry = self._entry(doc)
        if entry is None:
            return ['VM_MAD with NAME="%s" (not found)' % self.vm_mad]
        attribute = entry.attribute("ARGUMENTS")
        mapping = self._mapping(attribute.value.text if attribute else "")
        return ['VM_MAD NAME="%s" ARGUMENTS -l %s=%s' % (self.vm_mad, action, script)
                for action, script in self.pairs if mapping.get(action) != script]

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        entry = self._entry(doc)
        if entry is None:
            return doc.text, None, ['no VM_MAD with NAME="%s": add %s by hand' % (self.vm_mad, self.describe())]
        value, problem = _arguments(entry, doc)
        if value is None:
            return doc.text, None, ["%s: add %s by hand" % (problem, self.describe())]
        notes = []
        if any(action.startswith("snapshot") for action, _ in self.pairs) and (entry.text("KEEP_SNAPSHOTS") or "").lower() != "yes":
            notes.append('VM snapshots on StorPool need KEEP_SNAPSHOTS="yes" in VM_MAD NAME="%s" (not changed)' % self.vm_mad)
        mapping = self._mapping(value.text)
        wanted = []
        for action, script in self.pairs:
            if action not in mapping:
                wanted.append("%s=%s" % (action, script))
            elif mapping[action] != script:
                notes.append('VM_MAD NAME="%s" already runs %s with %s; left as it is (onesp needs %s)'
                             % (self.vm_mad, action, mapping[action], script))
        if not wanted:
            return doc.text, None, notes
        args = value.text
        option = options.find(args, "-l", "--local")
        if option is None:
            new = options.append_option(args, "-l", wanted)
        else:
            new = args
            for item in wanted:
                new = options.add_item(new, options.find(new, "-l", "--local"), item)  # type: ignore[arg-type]
        record = {"item": self.key, "added": wanted, "created_option": option is None}
        return _set_arguments(doc, value, new), record, notes

    def remove(self, doc: Document, record: Record) -> str:
        entry = self._entry(doc)
        value = _arguments(entry, doc)[0] if entry else None
        option = options.find(value.text, "-l", "--local") if value else None
        if value is None or option is None:
            return doc.text
        args = value.text
        added = set(record.get("added", []))
        if record.get("created_option") and all(item in added for item in option.items(args)):
            return _set_arguments(doc, value, options.drop_option(args, option))
        for item in added:
            args = options.remove_item(args, options.find(args, "-l", "--local"), item)  # type: ignore[arg-type]
        return _set_arguments(doc, value, args)


def _insert_after_last(doc: Document, name: str, block: str, gap: str) -> str:
    """Insert ``gap + block`` right after the last entry called ``name`` (or at the end)."""
    anchors = doc.named(name)
    if anchors:
        at = anchors[-1].end
        return doc.text[:at] + gap + block + doc.text[at:]
    text = doc.text
    return text + ("" if text.endswith("\n") or not text else "\n") + gap[1:] + block + "\n"


class Block(Item):
    """A ``TM_MAD_CONF``/``DS_MAD_CONF`` block for the driver."""

    def __init__(self, entry: str, values: Tuple[Tuple[str, str], ...]) -> None:
        self.entry = entry
        self.values = values
        self.key = "%s %s" % (entry, DRIVER)

    def describe(self) -> str:
        return '%s with NAME="%s"' % (self.entry, DRIVER)

    def render(self) -> str:
        lines = ["    %s = %s" % (key, onedconf.quote(value)) for key, value in self.values]
        return "%s = [\n%s\n]" % (self.entry, ",\n".join(lines))

    def _entry(self, doc: Document) -> Optional[Entry]:
        found = doc.vectors(self.entry, NAME=DRIVER)
        return found[-1] if found else None

    def differences(self, doc: Document) -> List[str]:
        """Values of an existing block that differ from onesp's (reported, never changed)."""
        entry = self._entry(doc)
        if entry is None:
            return []
        out = []
        for key, value in self.values:
            have = entry.text(key)
            if (have or "").upper() != value.upper():
                out.append('%s NAME="%s" has %s=%s; onesp expects %s' % (self.entry, DRIVER, key,
                                                                        '"%s"' % have if have is not None else "nothing",
                                                                        onedconf.quote(value)))
        return out

    def missing(self, doc: Document) -> List[str]:
        return [] if self._entry(doc) else [self.describe()]

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        if self._entry(doc):
            return doc.text, None, self.differences(doc)
        return _insert_after_last(doc, self.entry, self.render(), "\n\n"), {"item": self.key}, []

    def remove(self, doc: Document, record: Record) -> str:
        entry = self._entry(doc)
        if entry is None:
            return doc.text
        start, end = onedconf.removal_span(doc.text, entry)
        return doc.text[:start] + doc.text[end:]


class Restricted(Item):
    """``VM_RESTRICTED_ATTR = "<name>"``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = "VM_RESTRICTED_ATTR %s" % name

    def describe(self) -> str:
        return 'VM_RESTRICTED_ATTR = "%s"' % self.name

    def _entry(self, doc: Document) -> Optional[Entry]:
        for entry in doc.named("VM_RESTRICTED_ATTR"):
            if entry.value is not None and entry.value.text == self.name:
                return entry
        return None

    def missing(self, doc: Document) -> List[str]:
        return [] if self._entry(doc) else [self.describe()]

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        if self._entry(doc):
            return doc.text, None, []
        return _insert_after_last(doc, "VM_RESTRICTED_ATTR", self.describe(), "\n"), {"item": self.key}, []

    def remove(self, doc: Document, record: Record) -> str:
        entry = self._entry(doc)
        if entry is None:
            return doc.text
        start, end = onedconf.removal_span(doc.text, entry)
        return doc.text[:start] + doc.text[end:]


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
    return Plan(frozenset(script for _, script in HOTPLUG_HELPERS + SNAPSHOT_HELPERS), True).items()


def _reparsed(text: str, item: Item) -> Document:
    try:
        return onedconf.parse(text)
    except OnedConfError as exc:  # an edit must never produce a file oned cannot read
        raise OnedConfError("editing %s would break the file (%s); nothing was written" % (item.describe(), exc)) from None

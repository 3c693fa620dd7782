"""The pieces of the oned.conf registration, each one addable and removable on its own.

Every item knows whether oned.conf has it (``missing``), adds it with the smallest edit
(``add`` returns a record of exactly what it did) and removes only what its record says
it added (``remove``), so whatever the operator configured stays as it was.
"""

from __future__ import annotations

import abc
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import onedconf, options
from .onedconf import Document, Entry

DRIVER = "storpool"
Record = Dict[str, Any]  # what an item did, as the install manifest keeps it (JSON)


class Item(abc.ABC):
    key = ""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the entry, for messages."""

    @abc.abstractmethod
    def missing(self, doc: Document) -> List[str]:
        """What of this item oned.conf lacks (empty when registered)."""

    @abc.abstractmethod
    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        """Make the smallest edit that registers it: (message, record of the edit, warnings)."""

    @abc.abstractmethod
    def remove(self, doc: Document, record: Record) -> str:
        """Take back exactly what ``record`` says was added; returns a message."""


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
        lacking = ["%s=%s" % (action, script) for action, script in self.pairs if mapping.get(action) != script]
        return ['VM_MAD NAME="%s" ARGUMENTS -l %s' % (self.vm_mad, ",".join(lacking))] if lacking else []

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        entry = self._entry(doc)
        if entry is None:
            return doc.text, None, ['no VM_MAD with NAME="%s": add %s by hand' % (self.vm_mad, self.describe())]
        value, problem = _arguments(entry, doc)
        if value is None:
            return doc.text, None, ["%s: add %s by hand" % (problem, self.describe())]
        notes = []
        keeps = (entry.text("KEEP_SNAPSHOTS") or "").lower() == "yes"
        if any(action.startswith("snapshot") for action, _ in self.pairs) and not keeps:
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
                local = options.find(new, "-l", "--local")  # found above; adding items keeps it
                new = options.add_item(new, local, item) if local is not None else options.append_option(new, "-l", [item])
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
            local = options.find(args, "-l", "--local")  # found above; removing items keeps it
            if local is not None:
                args = options.remove_item(args, local, item)
        return _set_arguments(doc, value, args)


def _insert_after_last(doc: Document, name: str, block: str, gap: str) -> str:
    """Insert ``gap + block`` right after the last entry called ``name`` (or at the end)."""
    anchors = doc.named(name)
    if anchors:
        at = anchors[-1].end
        return doc.text[:at] + gap + block + doc.text[at:]
    text = doc.text
    return text + ("" if text.endswith("\n") or not text else "\n") + gap[1:] + block + "\n"


class WholeEntry(Item):
    """An item that is one whole entry of oned.conf: removing it removes that entry."""

    @abc.abstractmethod
    def _entry(self, doc: Document) -> Optional[Entry]:
        """The entry in ``doc`` that registers the item, if any."""

    def remove(self, doc: Document, record: Record) -> str:
        entry = self._entry(doc)
        if entry is None:
            return doc.text
        start, end = onedconf.removal_span(doc.text, entry)
        return doc.text[:start] + doc.text[end:]


class Block(WholeEntry):
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


class BlockKeys(Item):
    """Keys an existing ``NAME="storpool"`` block lacks, added at its end (a block written
    before OpenNebula 7.2 added DS_LIVE_MIGRATE and DS_MIGRATE_SNAP, whose absence oned reads
    as NO). A key the operator set is never changed; only the added keys are removed."""

    def __init__(self, entry: str, values: Tuple[Tuple[str, str], ...]) -> None:
        self.entry = entry
        self.values = values
        self.key = "%s %s keys" % (entry, DRIVER)

    def describe(self) -> str:
        return '%s in %s with NAME="%s"' % (", ".join(key for key, _ in self.values), self.entry, DRIVER)

    def _entry(self, doc: Document) -> Optional[Entry]:
        found = doc.vectors(self.entry, NAME=DRIVER)
        return found[-1] if found else None

    def _lacking(self, entry: Entry) -> List[Tuple[str, str]]:
        return [(key, value) for key, value in self.values if entry.attribute(key) is None]

    def missing(self, doc: Document) -> List[str]:
        entry = self._entry(doc)
        lacking = self._lacking(entry) if entry is not None else []
        return ['%s in %s with NAME="%s"' % (", ".join(k for k, _ in lacking), self.entry, DRIVER)] if lacking else []

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        entry = self._entry(doc)
        if entry is None or not entry.attributes:
            return doc.text, None, []
        lacking = self._lacking(entry)
        if not lacking:
            return doc.text, None, []
        at = entry.attributes[-1].value.end
        added = "".join(",\n    %s = %s" % (key, onedconf.quote(value)) for key, value in lacking)
        return onedconf.splice(doc.text, at, at, added), {"item": self.key, "added": [k for k, _ in lacking]}, []

    def remove(self, doc: Document, record: Record) -> str:
        text = doc.text
        for key in reversed(record.get("added", [])):
            entry = onedconf.parse(text).vectors(self.entry, NAME=DRIVER)
            attributes = entry[-1].attributes if entry else ()
            names = [a.name for a in attributes]
            if key not in names or names.index(key) == 0:
                continue
            index = names.index(key)
            text = onedconf.splice(text, attributes[index - 1].value.end, attributes[index].value.end, "")
        return text


class Restricted(WholeEntry):
    """``VM_RESTRICTED_ATTR = "<name>"`` (or another ``*_RESTRICTED_ATTR`` list)."""

    def __init__(self, name: str, entry: str = "VM_RESTRICTED_ATTR") -> None:
        self.name = name
        self.entry = entry
        self.key = "%s %s" % (entry, name)

    def describe(self) -> str:
        return '%s = "%s"' % (self.entry, self.name)

    def _entry(self, doc: Document) -> Optional[Entry]:
        for entry in doc.named(self.entry):
            if entry.value is not None and entry.value.text == self.name:
                return entry
        return None

    def missing(self, doc: Document) -> List[str]:
        return [] if self._entry(doc) else [self.describe()]

    def add(self, doc: Document) -> Tuple[str, Optional[Record], List[str]]:
        if self._entry(doc):
            return doc.text, None, []
        return _insert_after_last(doc, self.entry, self.describe(), "\n"), {"item": self.key}, []

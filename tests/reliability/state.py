"""What the reliability tests reset and compare: StorPool's state and the hosts' files.

``fresh(stack)`` puts an installation back to empty (emulator reset, the datastores'
templates, host directories) so a scenario can be built again in the same stand-ins many
times per test, without new processes. ``snapshot(stack)`` is what a test compares: the
emulator's state, normalised so that two equal runs compare equal, and every file,
directory and symlink under the hosts' directories.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Tuple

from onesp.sim.stack import Stack


def host_roots(stack: Stack) -> List[Path]:
    """Where actions write on hosts and the front-end: datastores, private host views, staging."""
    return [stack.ds_location, stack.root / "hosts", stack.root / "staging"]


def fresh(stack: Stack) -> None:
    """Empty StorPool (the datastores' templates recreated) and empty host directories."""
    stack.ctl.reset()
    for ds in (100, 101):
        stack.sp.template_create("one-ds-%d" % ds, replication=3, placeAll="default", placeTail="default")
    for root in host_roots(stack):
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def host_state(stack: Stack) -> Dict[str, Tuple[str, str]]:
    """Every file, directory and symlink under the host roots: kind and target or content digest.

    Paths are relative to the stack's directory and link targets name the device directory
    as ``<dev>``, so two stacks in the same state compare equal."""
    found: Dict[str, Tuple[str, str]] = {}
    for root in host_roots(stack):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                key = str(path.relative_to(stack.root))
                if path.is_symlink():
                    target = os.readlink(path)
                    for prefix, label in ((str(stack.dev_dir), "<dev>"), (str(stack.root), "<root>")):
                        if target.startswith(prefix + os.sep):
                            target = label + target[len(prefix):]
                    found[key] = ("link", target)
                elif path.is_dir():
                    found[key] = ("dir", "")
                else:
                    found[key] = ("file", hashlib.sha1(path.read_bytes()).hexdigest())
    return found


def _anonymous(name: str, record: Mapping[str, Any]) -> bool:
    return name.startswith("~") or bool(record.get("autoName"))


def normalised(state: Mapping[str, Any]) -> Dict[str, Any]:
    """StorPool state without what differs between two equal runs: global ids, the exact
    DELAY_DELETE dates, and the names of anonymous snapshots (``<volume>@<n>``, ``~<id>``),
    which become ``<volume>@anonymous`` (with ``'`` appended for a second one)."""
    renamed = {}
    for name in sorted(state["snapshots"]):
        record = state["snapshots"][name]
        if _anonymous(name, record):
            base = name.split("@", 1)[0] if "@" in name else str(record.get("onVolume") or "~")
            key = base + "@anonymous"
            while key in renamed.values():
                key += "'"
            renamed[name] = key

    def clean(record: Mapping[str, Any]) -> Dict[str, Any]:
        out = {k: v for k, v in record.items() if k != "globalId"}
        if "targetDeleteDate" in out:
            out["targetDeleteDate"] = bool(out["targetDeleteDate"])
        if out.get("parent") in renamed:
            out["parent"] = renamed[out["parent"]]
        return out

    return {
        "volumes": {name: clean(record) for name, record in state["volumes"].items()},
        "snapshots": {renamed.get(name, name): clean(record) for name, record in state["snapshots"].items()},
        "attachments": [dict(a, name=renamed.get(a["name"], a["name"])) for a in state["attachments"]],
        "templates": state["templates"],
    }


def durable(state: Mapping[str, Any]) -> Dict[str, Any]:
    """``state`` without the snapshots StorPool deletes by itself when their DELAY_DELETE
    runs out (references to them read ``pending deletion``), and the set of volumes such
    copies were kept of: two runs that each kept a copy of a volume end in the same place."""
    pending = {name for name, s in state["snapshots"].items() if s.get("targetDeleteDate")}

    def clean(record: Mapping[str, Any]) -> Dict[str, Any]:
        out = dict(record)
        if out.get("parent") in pending:
            out["parent"] = "pending deletion"
        return out

    return {
        "volumes": {name: clean(r) for name, r in state["volumes"].items()},
        "snapshots": {name: clean(r) for name, r in state["snapshots"].items() if name not in pending},
        "attachments": state["attachments"],
        "templates": state["templates"],
        "kept copies of": sorted({name.split("@", 1)[0] for name in pending}),
    }


@dataclass(frozen=True)
class Snapshot:
    """What the reliability tests compare after a run."""

    storpool: Dict[str, Any]
    hosts: Dict[str, Tuple[str, str]]

    def names(self) -> FrozenSet[str]:
        """Names of volumes and snapshots (a second anonymous copy counts as the first)."""
        return frozenset(self.storpool["volumes"]) | frozenset(n.rstrip("'") for n in self.storpool["snapshots"])

    def durable(self) -> "Snapshot":
        return Snapshot(durable(self.storpool), self.hosts)


def snapshot(stack: Stack) -> Snapshot:
    return Snapshot(normalised(stack.state()), host_state(stack))

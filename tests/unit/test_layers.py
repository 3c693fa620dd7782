"""The package's layers, as docs/architecture.md draws them, held by the code itself.

``onesp.runtime`` (what every action runs through), ``onesp.one`` (oned's documents and its
XML-RPC client) and ``onesp.actions`` make up what oned depends on; ``onesp.tools`` (the
``onesp`` command, the installer) and ``onesp.sim`` (the stand-ins) sit beside it. The runtime
never imports the tools or the stand-ins, the stand-ins never import the tools or the actions,
and no module name means two things: a name used in one layer is used in no other.
"""

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import onesp

LIB = Path(onesp.__file__).resolve().parent
REPO = LIB.parents[1]
#: The top-level packages and the layer each is in, for the import rules.
LAYERS = {"runtime": "runtime", "one": "runtime", "actions": "runtime", "tools": "tools", "sim": "stand-ins"}
#: Which layers a layer's modules may import.
MAY_IMPORT = {"runtime": {"runtime"}, "tools": {"runtime", "tools", "stand-ins"}, "stand-ins": {"runtime", "stand-ins"}}
SHIMS = ["datastore/storpool", "tm/storpool", "vmm/kvm", "hooks/storpool"]


def modules() -> Iterator[Tuple[str, Path]]:
    """Every module of the package (dotted name, file); a package is named by its __init__.py."""
    for path in sorted(LIB.rglob("*.py")):
        parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


KNOWN = {n for n, _ in modules()}


def imported(name: str, path: Path) -> Set[str]:
    """The onesp modules a file imports anywhere in it (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found.update("%s.%s" % (base, alias.name) for alias in node.names)
    return {m for m in found if m in KNOWN}


def layer(name: str) -> str:
    parts = name.split(".")
    return LAYERS.get(parts[1], "top") if len(parts) > 1 else "top"


def test_every_module_is_in_a_layer():
    loose = [n for n, _ in modules() if layer(n) == "top" and n not in ("onesp", "onesp.__main__")]
    assert loose == [], "modules outside runtime/, one/, actions/, tools/, sim/: %s" % loose


def test_no_layer_imports_what_it_must_not():
    wrong = []
    for name, path in modules():
        mine = layer(name)
        for target in imported(name, path):
            theirs = layer(target)
            if theirs != "top" and mine in MAY_IMPORT and theirs not in MAY_IMPORT[mine]:
                wrong.append("%s (%s) imports %s (%s)" % (name, mine, target, theirs))
    assert wrong == []


def test_the_stand_ins_do_not_import_the_actions_and_the_core_runs_actions_by_name_only():
    """The stand-ins answer like StorPool and oned, whatever the actions do; the runtime core and
    oned's documents reach an action only through the driver's lookup by name (the server
    imports the package ``onesp.actions`` to preload them all)."""
    wrong = []
    for name, path in modules():
        top = name.split(".")[1] if "." in name else ""
        for target in imported(name, path):
            if not target.startswith("onesp.actions"):
                continue
            if top == "sim" or top == "one" or (top == "runtime" and target != "onesp.actions"):
                wrong.append("%s imports %s" % (name, target))
    assert wrong == []


def test_the_executables_oned_runs_use_only_the_runtime():
    shims = [p for d in SHIMS for p in sorted((REPO / d).iterdir())
             if p.read_text().startswith(("#!/usr/bin/env python3", "#!/bin/sh\n# OpenNebula"))]  # DS/TM: sh and Python
    assert len(shims) > 30
    for path in shims:
        targets = {m for m in imported("shim", path) if m != "onesp"}
        assert targets and all(layer(t) == "runtime" for t in targets), "%s imports %s" % (path.name, targets)


def test_no_name_is_used_in_two_layers():
    """Module and package names, a leading underscore aside: ``context`` is the TM action and
    nothing else, so a reader (and a traceback) never has to ask which one is meant."""
    where: Dict[str, Set[str]] = {}
    for name, _ in modules():
        parts = name.split(".")
        if len(parts) < 2 or parts[-1].startswith("__"):
            continue
        group = parts[1]  # runtime, one, actions, tools, sim: five groups
        for part in parts[2:]:
            where.setdefault(part.lstrip("_"), set()).add(group)
    clashes: List[str] = ["%s in %s" % (n, ", ".join(sorted(g))) for n, g in sorted(where.items()) if len(g) > 1]
    assert clashes == []

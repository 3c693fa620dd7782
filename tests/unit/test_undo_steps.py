"""Every mutating StorPool call of an action goes through a step of ``onesp.runtime.volumes``
(or of ``attaching`` and ``snapshotting``, its siblings for attachments and snapshots).

Those steps register their inverse, or say why there is none, so the undo rules live in one
place. The mutating client methods are read from ``onesp.runtime.storpoolapi`` itself (those that POST,
directly or through another such method), so a new one is covered without editing this test.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, List, Set

import onesp.runtime.storpoolapi
import onesp.runtime.volumes

LIB = Path(onesp.runtime.storpoolapi.__file__).resolve().parent


def mutating_methods() -> Set[str]:
    tree = ast.parse(Path(onesp.runtime.storpoolapi.__file__).read_text())
    client = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "StorPool")
    calls = {}
    for method in client.body:
        if isinstance(method, ast.FunctionDef):
            used = set()
            for node in ast.walk(method):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                    name = node.func.attr
                    posts = name == "call" and node.args and isinstance(node.args[0], ast.Constant) \
                        and node.args[0].value == "POST"
                    used.add("POST" if posts or name == "_post" else name)
            calls[method.name] = used
    found = {"POST"}
    while True:
        more = {name for name, used in calls.items() if used & found} - found
        if not more:
            return (found - {"POST"}) | {"call", "_post"}
        found |= more


def is_client(node: ast.AST) -> bool:
    """``ctx.sp`` (or anything's ``.sp``) or a local ``sp``."""
    return (isinstance(node, ast.Attribute) and node.attr == "sp") or (isinstance(node, ast.Name) and node.id == "sp")


def direct_mutations(paths: Iterable[Path]) -> List[str]:
    methods = mutating_methods()
    found = []
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in methods and is_client(node.value):
                found.append("%s:%d: %s" % (path.relative_to(LIB), node.lineno, ast.unparse(node)))
    return found


def test_the_mutating_client_methods_are_found():
    methods = mutating_methods()
    assert {"volume_create", "volume_update", "volume_delete", "volume_revert", "volume_snapshot", "group_snapshot",
            "snapshot_update", "snapshot_delete", "reassign", "attach", "detach"} <= methods
    assert not {"volume", "volume_or_none", "snapshot", "snapshot_or_none", "volumes", "attachments"} & methods


def test_actions_change_storpool_only_through_the_undo_steps():
    found = direct_mutations((LIB / "actions").rglob("*.py"))
    assert not found, ("mutating StorPool calls outside the runtime's steps (volumes, attaching, snapshotting:"
                       " use or add one there):\n" + "\n".join(found))


def test_the_check_sees_the_steps_module_calling_the_client():
    """The check looks at the right thing: onesp.runtime.volumes itself makes such calls."""
    found = direct_mutations([Path(onesp.runtime.volumes.__file__).resolve()])
    assert len(found) > 10, found

"""A termination cannot be swallowed, by construction: ``Interrupted`` is outside the error
family every best-effort handler catches, and no code but the driver (and the demo's wait
for Ctrl-C) catches what lies outside it without raising it again."""

import ast
from pathlib import Path

import onesp
from onesp.runtime.errors import Interrupted, OnespError

LIB = Path(onesp.__file__).resolve().parent
#: The one place a termination ends (the driver), and the demo's wait for Ctrl-C.
ALLOWED = {"runtime/driver.py", "tools/demo.py"}
BROAD = {"BaseException", "Interrupted", "KeyboardInterrupt"}


def _names(node):
    if node is None:
        return {"BaseException"}  # a bare except
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return {node.id} if isinstance(node, ast.Name) else set()


def test_no_handler_but_the_driver_can_catch_a_termination_and_carry_on():
    """``except OnespError`` and ``except Exception`` miss it; a handler broad enough to catch it
    must end in a bare ``raise``."""
    assert not issubclass(Interrupted, Exception) and not issubclass(Interrupted, OnespError)
    offenders = []
    for path in sorted(LIB.rglob("*.py")):
        relative = path.relative_to(LIB)
        if relative.parts[0] == "sim" or relative.as_posix() in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ExceptHandler) and _names(node.type) & BROAD:
                last = node.body[-1]
                if not (isinstance(last, ast.Raise) and last.exc is None):
                    offenders.append("%s:%d" % (relative, node.lineno))
    assert not offenders, "these handlers catch a termination and do not raise it again: %s" % offenders

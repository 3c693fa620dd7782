"""One way to read each fact: every StorPool name and tag is built by ``naming`` and every
environment override is read by the configuration resolver. Both are held by scanning the
package's source, so a new inline name or a stray ``os.environ`` read fails here.

The StorPool emulator (``sim/``) is a stand-in for StorPool and knows names as test data; it
is not scanned."""

import ast
import re
from pathlib import Path

import onesp

LIB = Path(onesp.__file__).resolve().parent

#: A string that spells part of a volume, snapshot or template name of the convention, or
#: formats one from pieces ("%s-%d-%d", "%s-%s"); a command-line option (--ds-types) is none.
NAME_SHAPE = re.compile(r"-(img|sys|ds)-(%|\d|<|\Z)|-snap|ONESNAP|\Aone-|\A%s-%[ds]")
#: The tag keys of the convention.
TAG_KEYS = {"virt", "nloc", "nvm", "diskid", "type", "qc", "vc-policy"}

#: Where such strings are allowed, with why.
NAMING_EXCEPTIONS = {
    # The module that builds and parses every name and tag.
    "naming.py": None,
    # A scripted tour of the actions against the stand-ins: it checks the names the actions
    # printed and made against the spelled-out convention (test data, as in sim/).
    "demo.py": None,
    # The defaults of the configured tag keys and VM snapshot tag (LOC_TAG, VM_TAG,
    # VMSNAP_TAG): configuration values, declared once; naming takes them from the config.
    "settings.py": {"nloc", "nvm", "ONESNAP"},
    # The install command's help text shows the template naming to a reader.
    "install/command.py": {"create a StorPool template <ONE_PX>-ds-<id> for each datastore, then the datastores"
                           " (docs/installation.md)"},
}


def _sources():
    for path in sorted(LIB.rglob("*.py")):
        relative = path.relative_to(LIB)
        if relative.parts[0] != "sim":
            yield relative.as_posix(), ast.parse(path.read_text(), str(path))


def _docstrings(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_names_and_tags_are_built_by_naming_only():
    """No string constant outside naming.py (docstrings aside) spells a piece of a StorPool
    name of the convention or a tag key: call ``Names``/``TagPolicy`` or the key constants."""
    offenders = []
    for relative, tree in _sources():
        allowed = NAMING_EXCEPTIONS.get(relative, set())
        if allowed is None:
            continue
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docstrings:
                continue
            text = node.value
            if (NAME_SHAPE.search(text) or text in TAG_KEYS) and text not in allowed:
                offenders.append("%s:%d %r" % (relative, node.lineno, text[:60]))
    assert not offenders, "StorPool names or tag keys built outside naming.py: %s" % offenders

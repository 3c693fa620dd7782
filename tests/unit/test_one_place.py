"""One way to read each fact: every StorPool name and tag is built by ``naming`` and every
environment override is read by the configuration resolver. Both are held by scanning the
package's source, so a new inline name or a stray ``os.environ`` read fails here.

The StorPool emulator (``sim/``) is a stand-in for StorPool and knows names as test data; it
is not scanned."""

import ast
import re
from functools import lru_cache
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
    "runtime/naming.py": None,
    # The module that builds and recognises every tag.
    "runtime/tagging.py": None,
    # A scripted tour of the actions against the stand-ins: it checks the names the actions
    # printed and made against the spelled-out convention (test data, as in sim/).
    "tools/demo.py": None,
    # The defaults of the configured tag keys and VM snapshot tag (LOC_TAG, VM_TAG,
    # VMSNAP_TAG): configuration values, declared once; naming takes them from the config.
    "runtime/settings.py": {"nloc", "nvm", "ONESNAP"},
    # The install command's help text shows the template naming to a reader.
    "tools/install/installer.py": {"create a StorPool template <ONE_PX>-ds-<id> for each datastore, then the datastores"
                           " (docs/installation.md)"},
}


@lru_cache(maxsize=1)
def _sources():
    out = []
    for path in sorted(LIB.rglob("*.py")):
        relative = path.relative_to(LIB)
        if relative.parts[0] != "sim":
            out.append((relative.as_posix(), ast.parse(path.read_text(), str(path))))
    return tuple(out)


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


#: The configuration resolver: the only modules that read configuration from the environment
#: (settings.py declares the keys it reads; ONE_XMLRPC is an rc key too).
RESOLVER = {"runtime/config.py", "runtime/configfiles.py", "runtime/settings.py"}
#: Where the environment is touched outside the resolver, with why none of it is a configuration read.
ENVIRONMENT_EXCEPTIONS = {
    # OpenNebula's own variables for its XML-RPC client (ONE_XMLRPC, ONE_AUTH, ONE_XMLRPC_TIMEOUT,
    # HOME for ~/.one), read as the one* commands read them, from the mapping handed to oned's client.
    "one/endpoint.py": "oned's client",
    "runtime/actioncontext.py": "the environment handed to oned's client (Config.oned_environment adds the ONE_XMLRPC key)",
    "tools/commands/audit.py": "the environment handed to oned's client, as in actioncontext.py",
    # The executables' hand-over to the action server imports no library module (test_import_cost):
    # ONESP_SERVER_DIR is read there before any configuration exists, and the whole environment
    # goes to the server, which runs the action in it.
    "runtime/client.py": "the shim's socket directory and the environment forwarded to the server",
    "runtime/actionworker.py": "takes the client's environment as its own for the action it runs",
    # Home directories are places a local import must not read from, not a setting.
    "actions/ds/_localfile.py": "HOME, a restricted place",
    # Child processes inherit the environment (the downloader without the API token; a local
    # "host" command with ONESP_HOST added).
    "actions/ds/_downloader.py": "the environment of the downloader child",
    "runtime/hostexec.py": "the environment of a local host command",
    # Entry points that hand os.environ to code taking an ``env`` mapping (tests pass their own);
    # what they read from it they read through configfiles.
    "tools/install/installer.py": "passes the environment to the installer (AUTOCONF is install.sh's own option)",
    "tools/install/compiled.py": "CC, the C compiler to build the compiled client with (as make reads it)",
    "tools/doctor.py": "passes the environment to the doctor's checks",
    "tools/doctor_checks.py": "passes the environment to the doctor's checks",
    # `onesp run --verbose` sets ONESP_VERBOSE for the action it runs in this process.
    "tools/commands/run.py": "writes ONESP_VERBOSE for the in-process action",
    # The demo's own qemu-img, for making its test image (a stand-in tour, like sim/).
    "tools/demo.py": "the demo's qemu-img",
}
_ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
_ENV_KEY = re.compile(r"\A(ONESP_[A-Z0-9_]+|ONE_LOCATION|ONE_XMLRPC|ONE_AUTH)\Z")


def test_the_environment_is_read_by_the_configuration_resolver_only():
    """Outside config.py and configfiles.py no module reads ``os.environ``/``os.getenv`` or
    spells an environment key (``ONESP_*``, ``ONE_LOCATION``) except the documented exceptions."""
    offenders = []
    for relative, tree in _sources():
        if relative in RESOLVER or relative in ENVIRONMENT_EXCEPTIONS:
            continue
        for node in ast.walk(tree):
            touched = (isinstance(node, ast.Attribute) and node.attr in _ENV_NAMES
                       and isinstance(node.value, ast.Name) and node.value.id == "os")
            imported = isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                alias.name in _ENV_NAMES for alias in node.names)
            spelled = isinstance(node, ast.Constant) and isinstance(node.value, str) and _ENV_KEY.match(node.value)
            if touched or imported or spelled:
                offenders.append("%s:%d" % (relative, node.lineno))
    assert not offenders, "environment read outside the configuration resolver: %s" % offenders


def test_every_environment_exception_is_still_needed():
    """An exception whose module no longer touches the environment is dropped, so the list
    stays the list of real exceptions."""
    unused = []
    for relative, tree in _sources():
        if relative in ENVIRONMENT_EXCEPTIONS and not any(
                isinstance(node, ast.Attribute) and node.attr in _ENV_NAMES for node in ast.walk(tree)):
            unused.append(relative)
    assert not unused and set(ENVIRONMENT_EXCEPTIONS) <= {r for r, _ in _sources()}, unused

"""Reading the files onesp's configuration comes from, as the tools that own them read them.

``addon-storpoolrc`` (and ``/etc/storpool/addon-storpool.conf``) are shell-style
``KEY=VALUE`` files the bash addon sourced: parsed here without ever running a shell
(``$(...)`` and backquotes are never run, ``$VAR`` only from what was assigned before).
StorPool's ``storpool.conf`` and ``storpool.conf.d`` are merged as its own tools merge them.
What the values mean is ``config``'s business.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Tuple

from .errors import ConfigError

#: Where OpenNebula keeps the remotes tree (on the front-end, on hosts).
_REMOTES = ("/var/lib/one/remotes", "/var/tmp/one")


def rc_candidates() -> List[str]:
    """Where addon-storpoolrc is looked for; the first existing file wins.

    The first place is next to the installed library (``<remotes>/addon-storpoolrc`` when
    installed into OpenNebula's remotes, the repository root in a checkout), then the places
    the bash addon searched.
    """
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    places = [os.path.join(here, "addon-storpoolrc")]
    for root in _REMOTES:
        places += [
            os.path.join(root, "addon-storpoolrc"),
            os.path.join(root, "datastore", "addon-storpoolrc"),
            os.path.join(root, "tm", "storpool", "addon-storpoolrc"),
        ]
    return places


# -- shell-style assignment files -------------------------------------------------------------


#: The rc file read after the one ``rc_candidates`` finds (the addon's optional override).
ADDON_CONF = "/etc/storpool/addon-storpool.conf"


def _environment(env: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if env is None else env


def rc_override(env: Optional[Mapping[str, str]] = None) -> Optional[List[str]]:
    """The rc files ``ONESP_RC`` names (colon-separated, in order; empty: none), or None when unset."""
    value = _environment(env).get("ONESP_RC")
    return None if value is None else [path for path in value.split(":") if path]


def rc_files(env: Optional[Mapping[str, str]] = None) -> List[str]:
    """The rc files the configuration is read from, lowest first: ``ONESP_RC``, else the first
    of ``rc_candidates`` that exists and ``ADDON_CONF``."""
    override = rc_override(env)
    if override is not None:
        return override
    return [p for p in rc_candidates() if os.path.isfile(p)][:1] + [ADDON_CONF]


def storpool_conf_paths(env: Optional[Mapping[str, str]] = None) -> Tuple[str, str]:
    """This machine's storpool.conf and storpool.conf.d (``ONESP_STORPOOL_CONF[_D]`` move them)."""
    env = _environment(env)
    return env.get("ONESP_STORPOOL_CONF", "/etc/storpool.conf"), env.get("ONESP_STORPOOL_CONF_D", "/etc/storpool.conf.d")


def this_host(env: Optional[Mapping[str, str]] = None) -> str:
    """The name of this machine's section in storpool.conf (``ONESP_HOSTNAME``, else the node name)."""
    return _environment(env).get("ONESP_HOSTNAME") or os.uname().nodename


def local_storpool_conf(env: Optional[Mapping[str, str]] = None) -> Dict[str, Tuple[str, str]]:
    """This machine's storpool.conf as ``read_storpool_conf`` merges it for ``this_host``."""
    conf, conf_d = storpool_conf_paths(env)
    return read_storpool_conf(conf, conf_d, this_host(env))


def one_location(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """``ONE_LOCATION``: the root of a self-contained OpenNebula install, None for a system install."""
    return _environment(env).get("ONE_LOCATION") or None


def monitord_conf(env: Optional[Mapping[str, str]] = None) -> str:
    """monitord.conf of this front-end (``ONESP_MONITORD_CONF``, else under ``ONE_LOCATION``/etc)."""
    location = one_location(env)
    return _environment(env).get("ONESP_MONITORD_CONF") or (
        os.path.join(location, "etc", "monitord.conf") if location else "/etc/one/monitord.conf")


def local_host_dirs(env: Optional[Mapping[str, str]] = None) -> Optional[Tuple[str, str]]:
    """(private dir, hosts dir) when ``ONESP_LOCAL_PRIVATE_DIR`` and ``ONESP_LOCAL_HOSTS_DIR`` give
    each "host" of the local runner its own copy of a directory (tests and the demo), else None."""
    env = _environment(env)
    private, hosts = env.get("ONESP_LOCAL_PRIVATE_DIR"), env.get("ONESP_LOCAL_HOSTS_DIR")
    return (private, hosts) if private and hosts else None


def verbose(env: Optional[Mapping[str, str]] = None) -> bool:
    """``ONESP_VERBOSE`` (``onesp run --verbose``): log lines also to stderr, at debug level."""
    return _environment(env).get("ONESP_VERBOSE", "") not in ("", "0")


def parse_assignments(text: str, source: str, known: Optional[Mapping[str, str]] = None) -> Dict[str, Tuple[str, int]]:
    """Parse ``KEY=VALUE`` lines of a shell file without executing it.

    Understands comments, ``export``, single and double quotes, backslash escapes and
    ``$VAR``/``${VAR}`` references to keys assigned earlier (or in ``known``). Lines that are
    not plain assignments (conditionals, functions, command substitutions) are skipped: this
    file may have been written for bash, and we take only what can be read safely.
    Returns ``{key: (value, line number)}``.
    """
    result: Dict[str, Tuple[str, int]] = {}
    scope: Dict[str, str] = dict(known or {})
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, eq, rest = stripped.partition("=")
        if not eq or not key.replace("_", "a").isalnum() or key[0].isdigit():
            continue
        value = _shell_value(rest, scope)
        if value is None:
            continue
        scope[key] = value
        result[key] = (value, number)
    return result


def _shell_value(text: str, scope: Mapping[str, str]) -> Optional[str]:
    """The value of one shell word; None when it uses anything beyond quoting and $VAR."""
    out: List[str] = []
    i = 0
    quote = ""
    while i < len(text):
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                out.append(ch)
            i += 1
            continue
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            quote = "" if quote == '"' else '"'
            i += 1
            continue
        if ch == "'" and not quote:
            quote = "'"
            i += 1
            continue
        if ch == "`" or text.startswith("$(", i):
            return None
        if ch == "$":
            name, i = _variable(text, i + 1)
            if name is None:
                return None
            out.append(scope.get(name, os.environ.get(name, "") if name in ("HOME", "USER") else ""))
            continue
        if not quote and ch in " \t":
            tail = text[i:].strip()
            if tail and not tail.startswith("#") and not tail.startswith(";"):
                return None
            break
        if not quote and ch in ";&|<>":
            if text[i:].strip() == ";":
                break
            return None
        out.append(ch)
        i += 1
    if quote:
        return None
    return "".join(out)


def _variable(text: str, i: int) -> Tuple[Optional[str], int]:
    if i < len(text) and text[i] == "{":
        end = text.find("}", i)
        name = text[i + 1 : end] if end > 0 else ""
        if not name.replace("_", "a").isalnum():
            return None, i
        return name, end + 1
    j = i
    while j < len(text) and (text[j].isalnum() or text[j] == "_"):
        j += 1
    return (text[i:j] or None), j


def read_storpool_conf(path: str, conf_d: str, hostname: str) -> Dict[str, Tuple[str, str]]:
    """StorPool's config as its tools merge it: per file, global section then ``[hostname]``.

    Returns ``{key: (value, where)}`` for every key (the API keys and SP_OURID among them).
    """
    files = [path] if os.path.isfile(path) else []
    if os.path.isdir(conf_d):
        files += [
            os.path.join(conf_d, name)
            for name in sorted(os.listdir(conf_d))
            if name.endswith(".conf") and not name.startswith(".") and os.path.isfile(os.path.join(conf_d, name))
        ]
    merged: Dict[str, Tuple[str, str]] = {}
    for file in files:
        for section in ("", hostname):
            for key, value in storpool_conf_sections(file).get(section, {}).items():
                merged[key] = (value, "%s [%s]" % (file, section) if section else file)
    return merged


def storpool_conf_sections(path: str) -> Dict[str, Dict[str, str]]:
    """The sections of one storpool.conf-style file: ``{section: {key: value}}`` ('' = global)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror)) from exc
    sections: Dict[str, Dict[str, str]] = {"": {}}
    current = ""
    block: List[str] = []

    def flush() -> None:
        for key, (value, _) in parse_assignments("\n".join(block), path).items():
            sections.setdefault(current, {})[key] = value

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            flush()
            block = []
            current = stripped[1:-1].strip()
            continue
        block.append(line)
    flush()
    return sections

"""One resolver for every configuration value an action uses.

Precedence, lowest first:

1. built-in defaults (``settings.SETTINGS``);
2. ``addon-storpoolrc`` (the first one found, see ``rc_candidates``), then
   ``/etc/storpool/addon-storpool.conf`` — shell-style ``KEY=VALUE`` files, parsed
   here without ever running a shell;
3. StorPool's own configuration (``/etc/storpool.conf``, then ``/etc/storpool.conf.d/*.conf``;
   global section, then the ``[<hostname>]`` section) for the API address, port and token;
4. the environment variables ``SP_API_HTTP_HOST``, ``SP_API_HTTP_PORT``, ``SP_AUTH_TOKEN``;
5. attributes of the datastore the action works on (``Config.with_datastore``), for the keys
   marked ``datastore=True`` — an attribute that is absent or empty changes nothing;
6. ``ONESP_<KEY>`` environment variables, above everything: how tests, the demo and a
   person debugging point an action elsewhere without editing files.

File locations can be moved with ``ONESP_RC`` (colon-separated list of rc files, all read in
order), ``ONESP_STORPOOL_CONF`` and ``ONESP_STORPOOL_CONF_D``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from . import naming
from .errors import BadInput, ConfigError
from .settings import BY_NAME, IGNORED, SETTINGS, Setting

_TRUE = frozenset(("1", "yes", "y", "true", "on"))
_FALSE = frozenset(("0", "no", "n", "false", "off"))
_STORPOOL_CONF_KEYS = ("SP_API_HTTP_HOST", "SP_API_HTTP_PORT", "SP_AUTH_TOKEN")
_REMOTES = ("/var/lib/one/remotes", "/var/tmp/one")


def rc_candidates() -> List[str]:
    """Where addon-storpoolrc is looked for; the first existing file wins.

    The first place is next to the installed library (``<remotes>/addon-storpoolrc`` when
    installed into OpenNebula's remotes, the repository root in a checkout), then the places
    the bash addon searched.
    """
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    places = [os.path.join(here, "addon-storpoolrc")]
    for root in _REMOTES:
        places += [
            os.path.join(root, "addon-storpoolrc"),
            os.path.join(root, "datastore", "addon-storpoolrc"),
            os.path.join(root, "tm", "storpool", "addon-storpoolrc"),
        ]
    return places


# -- shell-style assignment files -------------------------------------------------------------


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
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror)) from None
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


# -- typed values ----------------------------------------------------------------------------


def convert(setting: Setting, raw: str, where: str) -> object:
    """Turn a raw string into the setting's type; a bad value names the key and where it came from."""
    text = raw.strip()
    try:
        if setting.kind == "str":
            return text
        if setting.kind == "words":
            return tuple(text.replace(",", " ").split())
        if setting.kind == "delay":
            return naming.parse_delay(text)  # empty: delete at once, as in the addon
        if not text:
            return convert(setting, setting.default, "built-in default") if setting.default else None
        if setting.kind == "int":
            if not text.isdigit():
                raise ValueError("expected a whole number, got %r" % raw)
            return int(text)
        if setting.kind == "bool":
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected yes/no (1/0, true/false), got %r" % raw)
    except ValueError as exc:
        raise ConfigError("%s in %s: %s" % (setting.name, where, exc)) from None
    raise ConfigError("%s: unknown setting type %s" % (setting.name, setting.kind))


@dataclass(frozen=True)
class Config:
    """Resolved configuration: ``cfg.ONE_PX``, ``cfg.origin("ONE_PX")``.

    ``pinned`` holds the keys set through ``ONESP_<KEY>``, which datastore attributes never override.
    """

    values: Mapping[str, object]
    origins: Mapping[str, str]
    pinned: FrozenSet[str] = frozenset()
    unknown: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> object:
        if name.isupper() and name in BY_NAME:
            return self.values[name]
        raise AttributeError(name)

    def get(self, name: str) -> object:
        if name not in BY_NAME:
            raise KeyError(name)
        return self.values[name]

    def origin(self, name: str) -> str:
        return self.origins.get(name, "built-in default")

    def with_datastore(self, attributes: Mapping[str, Optional[str]], label: str) -> "Config":
        """This configuration with a datastore's SP_* (and limit) attributes applied."""
        values = dict(self.values)
        origins = dict(self.origins)
        for setting in SETTINGS:
            if not setting.datastore or setting.name in self.pinned:
                continue
            raw = attributes.get(setting.name)
            if raw is None or not str(raw).strip():
                continue
            values[setting.name] = convert(setting, str(raw), label)
            origins[setting.name] = label
        return _validated(Config(values, origins, self.pinned, self.unknown))

    @property
    def names(self) -> naming.Names:
        return naming.Names(str(self.ONE_PX), str(self.VMSNAPSHOT_TAG))

    @property
    def tags(self) -> naming.TagPolicy:
        return naming.TagPolicy(str(self.LOC_TAG), str(self.LOC_TAG_VAL), str(self.VM_TAG))

    def limit(self, name: str, *overrides: Optional[str]) -> Optional[int]:
        """A snapshot limit: the first non-empty of ``overrides`` (VM first), else this config's value."""
        for raw, where in [(o, "VM or datastore template") for o in overrides] + [(self.get(name), self.origin(name))]:
            text = str(raw or "").strip()
            if not text:
                continue
            if not text.isdigit():
                raise ConfigError("%s in %s: expected a whole number, got %r" % (name, where, text))
            return int(text)
        return None


def load(
    env: Optional[Mapping[str, str]] = None,
    rc_files: Optional[Sequence[str]] = None,
    storpool_conf: Optional[str] = None,
    storpool_conf_d: Optional[str] = None,
    hostname: Optional[str] = None,
) -> Config:
    """Resolve the configuration from files and environment (see the module docstring)."""
    env = os.environ if env is None else env
    values: Dict[str, object] = {}
    origins: Dict[str, str] = {}
    for setting in SETTINGS:
        values[setting.name] = convert(setting, setting.default, "built-in default")

    if rc_files is None:
        if env.get("ONESP_RC") is not None:
            rc_files = [p for p in env["ONESP_RC"].split(":") if p]
        else:
            found = [p for p in rc_candidates() if os.path.isfile(p)]
            rc_files = found[:1] + ["/etc/storpool/addon-storpool.conf"]
    raw: Dict[str, Tuple[str, str]] = {}
    unknown: Dict[str, str] = {}
    for path in rc_files:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError("cannot read %s: %s" % (path, exc.strerror)) from None
        known = {k: v for k, (v, _) in raw.items()}
        for key, (value, line) in parse_assignments(text, path, known).items():
            if key in BY_NAME:
                raw[key] = (value, "%s line %d" % (path, line))
            elif key not in IGNORED:
                unknown[key] = path

    conf = storpool_conf or env.get("ONESP_STORPOOL_CONF", "/etc/storpool.conf")
    conf_d = storpool_conf_d or env.get("ONESP_STORPOOL_CONF_D", "/etc/storpool.conf.d")
    host = hostname or env.get("ONESP_HOSTNAME") or os.uname().nodename
    storpool = read_storpool_conf(conf, conf_d, host)
    for key in _STORPOOL_CONF_KEYS:
        if key in storpool:
            raw[key] = storpool[key]
        if env.get(key):
            raw[key] = (env[key], "environment variable %s" % key)

    pinned = set()
    for setting in SETTINGS:
        name = "ONESP_" + setting.name
        if name in env:
            raw[setting.name] = (env[name], "environment variable %s" % name)
            pinned.add(setting.name)

    for key, (value, where) in raw.items():
        values[key] = convert(BY_NAME[key], value, where)
        origins[key] = where
    if not values["LOC_TAG_VAL"]:
        values["LOC_TAG_VAL"] = values["ONE_PX"]
    return _validated(Config(values, origins, frozenset(pinned), unknown))


_CHOICES = {
    "READONLY_MODE": ("rw", "ro"),
    "SP_SYSTEM": ("ssh", "shared"),
    "HOST_EXEC": ("ssh", "local"),
    "LOG_LEVEL": ("debug", "info", "warning", "error"),
}


def _validated(cfg: Config) -> Config:
    for key, allowed in _CHOICES.items():
        if cfg.get(key) not in allowed:
            raise ConfigError("%s in %s: expected one of %s, got %r" % (key, cfg.origin(key), "/".join(allowed), cfg.get(key)))
    checks = (
        ("ONE_PX", lambda v: naming.check_prefix(v)),
        ("VMSNAPSHOT_TAG", lambda v: naming.check_template_name(v)),
        ("LOC_TAG", lambda v: naming.check_tag(v, "")),
        ("VM_TAG", lambda v: naming.check_tag(v, "")),
        ("LOC_TAG_VAL", lambda v: naming.check_tag("nloc", v)),
        ("DEFAULT_QOSCLASS", lambda v: naming.check_tag("qc", v)),
    )
    for key, check in checks:
        try:
            check(str(cfg.get(key)))
        except BadInput as exc:
            raise ConfigError("%s in %s: %s" % (key, cfg.origin(key), exc)) from None
    port = cfg.get("SP_API_HTTP_PORT")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError("SP_API_HTTP_PORT in %s: not a TCP port: %r" % (cfg.origin("SP_API_HTTP_PORT"), port))
    return cfg

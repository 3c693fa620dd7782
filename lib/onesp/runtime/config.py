"""One resolver for every configuration value an action uses.

Precedence, lowest first:

1. built-in defaults (``settings.SETTINGS``);
2. ``addon-storpoolrc`` (the first one found, see ``configfiles.rc_candidates``), then
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
from functools import lru_cache
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from . import configfiles, naming, tagging
from .configfiles import parse_assignments
from .errors import BadInput, ConfigError
from .settings import BY_NAME, IGNORED, IGNORED_PREFIXES, SETTINGS, Setting

#: The addon's boolTrue: these (in any case) are true, everything else is false.
_TRUE = frozenset(("1", "y", "yes", "t", "true", "on"))
#: What reads as false without a warning.
_FALSE = frozenset(("0", "n", "no", "f", "false", "off"))
_STORPOOL_CONF_KEYS = ("SP_API_HTTP_HOST", "SP_API_HTTP_PORT", "SP_AUTH_TOKEN")


# -- typed values ----------------------------------------------------------------------------


def convert(setting: Setting, raw: str, where: str, warnings: Optional[List[str]] = None) -> object:
    """Turn a raw string into the setting's type, the way the addon read it.

    A value that cannot be read follows the key's rule (``settings.ON_BAD``): a configuration
    error naming the key and where it came from, or the addon's reading with a warning added
    to ``warnings`` (the same text, ending in what is used instead).
    """
    text = raw.strip()
    try:
        return _typed(setting, text, raw)
    except ValueError as exc:
        rule = setting.bad_rule
        if rule == "fail" or warnings is None:
            raise ConfigError("%s in %s: %s" % (setting.name, where, exc)) from exc
        if rule == "no":
            used: object = False
            instead = "read as no, as the addon did"
        else:  # "default", and "digits" when the value has none
            used = _typed(setting, setting.default, setting.default)
            instead = "using the default %s" % setting.default
        warnings.append("%s in %s: %s; %s" % (setting.name, where, exc, instead))
        return used


def _typed(setting: Setting, text: str, raw: str) -> object:
    """The typed value of stripped ``text``; ValueError says what was expected."""
    if setting.kind == "str":
        return text
    if setting.kind == "words":
        return tuple(text.replace(",", " ").split())
    if setting.kind == "delay":
        return naming.parse_delay(text)  # empty: delete at once, as in the addon
    if not text:
        if setting.kind == "bool":
            return False  # KEY= in the addon's rc file: its boolTrue says no
        return _typed(setting, setting.default, setting.default) if setting.default else None
    if setting.kind == "int":
        if not text.isdigit():
            if setting.on_bad == "digits" and any(ch.isdigit() for ch in text):
                return int("".join(ch for ch in text if ch.isdigit()))  # the addon kept the digits: 20s is 20
            raise ValueError("expected a whole number, got %r" % raw)
        return int(text)
    if setting.kind == "choice":
        lowered = text.lower()
        if lowered not in setting.choices:
            raise ValueError("expected one of %s, got %r" % ("/".join(setting.choices), raw))
        return lowered
    if setting.kind == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected yes/no (1/0, y/n, t/f, true/false, on/off), got %r" % raw)
    raise ValueError("unknown setting type %s" % setting.kind)


class Values:
    """The type of every setting's value, so ``cfg.SP_API_TIMEOUT`` is an ``int`` to mypy and an editor.

    Declarations only, in the order of ``settings.SETTINGS`` (the table of keys, defaults and
    docs): ``Config`` reads each value from its ``values`` mapping. ``str`` and ``choice`` keys
    are ``str``, ``int`` and ``delay`` (seconds) keys ``int``, ``bool`` keys ``bool``, ``words``
    keys a tuple of words (see ``_typed``); a test checks this list against the table, so a
    setting cannot be added without its type.
    """

    ONE_PX: str
    LOC_TAG: str
    LOC_TAG_VAL: str
    VM_TAG: str
    VMSNAPSHOT_TAG: str
    DEFAULT_QOSCLASS: str
    SP_API_HTTP_HOST: str
    SP_API_HTTP_PORT: int
    SP_AUTH_TOKEN: str
    SP_API_CONNECT_TIMEOUT: int
    SP_API_TIMEOUT: int
    STORPOOL_RETRIES: int
    ATTACH_TIMEOUT: int
    SP_DEV_DIR: str
    DELAY_DELETE: int
    NO_VOLUME_TEMPLATE: bool
    READONLY_MODE: str
    STORPOOL_CLIENT_ID_SOURCES: Tuple[str, ...]
    COMMON_DOMAIN: str
    SP_SYSTEM: str
    SP_TEMPLATE_PROPAGATE: bool
    SKIP_UNDEPLOY_SSH: bool
    CLEAN_SRC_ON_UNDEPLOY: bool
    FORCE_DETACH_OTHER_MV: bool
    FORCE_DETACH_OTHER_CONTEXT: bool
    TAG_CONTEXT_ISO: bool
    SP_DISK_LIMITS: bool
    DISKSNAPSHOT_LIMIT: str
    DISK_SNAPSHOT_FSFREEZE: bool
    DISK_SAVEAS_FSFREEZE: bool
    VMSNAPSHOT_OVERRIDE: bool
    VMSNAPSHOT_FSFREEZE: bool
    VMSNAPSHOT_DELETE_ON_TERMINATE: bool
    VMSNAPSHOT_ENABLE_LIMIT: bool
    VMSNAPSHOT_LIMIT: str
    VMSNAPSHOT_EXCLUDE_READONLY: bool
    DS_CP_REPORT_FORMAT: bool
    UPDATE_IMAGE_ON_IMPORT: bool
    DS_CP_FORCE_DEV_PREFIX: str
    REMOTE_BACKUP_DELETE: str
    EXPORT_BRIDGE_LIST: Tuple[str, ...]
    EXPORT_FILE_FORMAT: str
    EXPORT_QEMU_IMG_ARGS: str
    DOWNLOADER: str
    EXPORT_TRANSPORT: str
    STAGING_DIR: str
    DOWNLOAD_TIMEOUT: int
    SP_SPACE_USED_LVMWAY: bool
    MONITOR_VMSNAPSHOTS: bool
    ALT_STATS: bool
    AUDIT_ORPHAN_GRACE: int
    LOCK_DIR: str
    ONE_XMLRPC: str
    HOST_EXEC: str
    SSH: str
    SSH_TIMEOUT: int
    SCRIPTS_REMOTE_DIR: str
    T_PERSISTENT_CDROM: str
    SP_CHECKPOINT: str
    SP_CHECKPOINT_BD: bool
    LIBVIRT_URI: str
    QEMU_IMG: str
    MKSWAP: str
    MKFS: str
    MKISOFS: str
    OVMF_PATH: Tuple[str, ...]
    CONTEXT_PACKAGES_DIR: str
    LOG_TO_FILE: bool
    LOG_FILE: str
    LOG_LEVEL: str
    SYSLOG: bool


@dataclass(frozen=True)
class Config(Values):
    """Resolved configuration: ``cfg.ONE_PX``, ``cfg.origin("ONE_PX")``.

    ``pinned`` holds the keys set through ``ONESP_<KEY>``, which datastore attributes never override.
    ``token_endpoint`` is the API endpoint (host, port) of the layer that set ``SP_AUTH_TOKEN``:
    the token is sent there and nowhere else (None: set through ``ONESP_SP_AUTH_TOKEN``, which
    goes with whatever endpoint is in force). ``warnings`` are the values that could not be read
    and were replaced by the addon's reading, each with its file and line.
    """

    values: Mapping[str, object]
    origins: Mapping[str, str]
    pinned: FrozenSet[str] = frozenset()
    unknown: Mapping[str, str] = field(default_factory=dict)
    token_endpoint: Optional[Tuple[str, int]] = None
    warnings: Tuple[str, ...] = ()

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

    def oned_environment(self, env: Mapping[str, str]) -> Mapping[str, str]:
        """``env`` for finding oned, with ONE_XMLRPC from addon-storpoolrc when ``env`` has none."""
        if (env.get("ONE_XMLRPC") or "").strip() or not self.ONE_XMLRPC:
            return env
        return dict(env, ONE_XMLRPC=self.ONE_XMLRPC)

    @property
    def endpoint(self) -> Tuple[str, int]:
        """The StorPool API address and port in force."""
        return (self.SP_API_HTTP_HOST, self.SP_API_HTTP_PORT)

    def with_datastore(self, attributes: Mapping[str, Optional[str]], label: str) -> "Config":
        """This configuration with a datastore's SP_* (and limit) attributes applied."""
        values = dict(self.values)
        origins = dict(self.origins)
        warnings = list(self.warnings)
        for setting in SETTINGS:
            if not setting.datastore or setting.name in self.pinned:
                continue
            raw = attributes.get(setting.name)
            if raw is None or not str(raw).strip():
                continue
            values[setting.name] = convert(setting, str(raw), label, warnings)
            origins[setting.name] = label
        bound = self.token_endpoint
        if origins.get("SP_AUTH_TOKEN") == label:
            bound = _endpoint(values)
        return _validated(Config(values, origins, self.pinned, self.unknown, bound, tuple(warnings)))

    @property
    def names(self) -> naming.Names:
        return naming.Names(self.ONE_PX, self.VMSNAPSHOT_TAG)

    @property
    def tags(self) -> tagging.TagPolicy:
        return tagging.TagPolicy(self.LOC_TAG, self.LOC_TAG_VAL, self.VM_TAG)

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


@lru_cache(maxsize=1)
def default_values() -> Mapping[str, object]:
    """Every setting's built-in default, typed (all immutable): converted once per process,
    and in the ``onesp server`` before it forks its workers."""
    return {s.name: convert(s, s.default, "built-in default") for s in SETTINGS}


def load(
    env: Optional[Mapping[str, str]] = None,
    rc_files: Optional[Sequence[str]] = None,
    storpool_conf: Optional[str] = None,
    storpool_conf_d: Optional[str] = None,
    hostname: Optional[str] = None,
) -> Config:
    """Resolve the configuration from files and environment (see the module docstring)."""
    env = os.environ if env is None else env
    if rc_files is None:
        rc_files = configfiles.rc_files(env)
    layers: List[Dict[str, Tuple[str, str]]] = []  # lowest first: {key: (raw value, where)}
    unknown: Dict[str, str] = {}
    scope: Dict[str, str] = {}
    for path in rc_files:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError("cannot read %s: %s" % (path, exc.strerror)) from exc
        layer: Dict[str, Tuple[str, str]] = {}
        for key, (value, line) in parse_assignments(text, path, scope).items():
            scope[key] = value
            if key in BY_NAME:
                layer[key] = (value, "%s line %d" % (path, line))
            elif not known_unused(key):
                unknown[key] = "%s line %d" % (path, line)
        layers.append(layer)

    default_conf, default_conf_d = configfiles.storpool_conf_paths(env)
    storpool = configfiles.read_storpool_conf(storpool_conf or default_conf, storpool_conf_d or default_conf_d,
                                              hostname or configfiles.this_host(env))
    layers.append({key: storpool[key] for key in _STORPOOL_CONF_KEYS if key in storpool})
    layers.append({key: (env[key], "environment variable %s" % key) for key in _STORPOOL_CONF_KEYS if env.get(key)})
    pinned = {s.name for s in SETTINGS if "ONESP_" + s.name in env}
    layers.append({name: (env["ONESP_" + name], "environment variable ONESP_" + name) for name in pinned})

    merged: Dict[str, Tuple[str, str]] = {}
    bound: Optional[Tuple[str, int]] = None
    for layer in layers:
        merged.update(layer)
        if "SP_AUTH_TOKEN" in layer:  # the token belongs to the endpoint of the layer that set it
            bound = _endpoint({key: merged[key][0] if key in merged else BY_NAME[key].default
                               for key in ("SP_API_HTTP_HOST", "SP_API_HTTP_PORT")})
    warnings: List[str] = []
    values: Dict[str, object] = dict(default_values())
    origins: Dict[str, str] = {}
    for key, (value, where) in merged.items():
        values[key] = convert(BY_NAME[key], value, where, warnings)
        origins[key] = where
    if not values["LOC_TAG_VAL"]:
        values["LOC_TAG_VAL"] = values["ONE_PX"]
    if "SP_AUTH_TOKEN" in pinned:
        bound = None
    return _validated(Config(values, origins, frozenset(pinned), unknown, bound, tuple(warnings)))


def remote_backup(value: str, where: str) -> Tuple[str, Dict[str, str]]:
    """REMOTE_BACKUP_DELETE ``<location>[:<args>]``: the location and the tags its args set.

    The addon passed ``<args>`` to ``storpool volume <v> backup <location>``; the only
    arguments that command takes there are ``tag <name>=<value>`` pairs (``clusterB:tag del=y``),
    and they are the tags of the backup here. Anything else is a configuration error, raised
    before the volume is touched.
    """
    location, _, args = value.strip().partition(":")
    location = location.strip()
    if not location or not location.replace("-", "a").replace("_", "a").replace(".", "a").isalnum():
        raise ConfigError("REMOTE_BACKUP_DELETE in %s: %r is not a StorPool location name" % (where, location))
    words = args.split()
    tags: Dict[str, str] = {}
    while words:
        word = words.pop(0)
        pair = words.pop(0) if word == "tag" and words else ""
        name, eq, tag_value = pair.partition("=")
        try:
            if not eq:
                raise BadInput("expected 'tag <name>=<value>'")
            tagging.check_tag(name, tag_value)
        except BadInput as exc:
            raise ConfigError("REMOTE_BACKUP_DELETE in %s: cannot pass %r to the backup: %s"
                              % (where, " ".join([word, pair]).strip(), exc)) from exc
        tags[name] = tag_value
    return location, tags


def checkpoints_on_storpool(sp_checkpoint: object, sp_checkpoint_bd: object) -> bool:
    """Whether memory checkpoints go to a StorPool volume: SP_CHECKPOINT yes or nomigrate, or
    SP_CHECKPOINT_BD (the save/restore helpers and the installer, which registers them, ask here)."""
    return sp_checkpoint in ("yes", "nomigrate") or bool(sp_checkpoint_bd)


def known_unused(key: str) -> bool:
    """A key of the bash addon that onesp reads past on purpose (``settings.IGNORED``; a
    setting of onesp is never one, also when an ignored family's prefix matches it)."""
    return key not in BY_NAME and (key in IGNORED or key.startswith(IGNORED_PREFIXES))


def _endpoint(values: Mapping[str, object]) -> Tuple[str, int]:
    """(host, port) of raw or typed values; a port that is not a number compares as -1."""
    port = str(values["SP_API_HTTP_PORT"]).strip()
    return (str(values["SP_API_HTTP_HOST"]).strip(), int(port) if port.isdigit() else -1)


def _validated(cfg: Config) -> Config:
    checks = (
        ("ONE_PX", lambda v: naming.check_prefix(v)),
        ("VMSNAPSHOT_TAG", lambda v: naming.check_template_name(v)),
        ("LOC_TAG", lambda v: tagging.check_tag(v, "")),
        ("VM_TAG", lambda v: tagging.check_tag(v, "")),
        ("LOC_TAG_VAL", lambda v: tagging.check_tag(tagging.TagPolicy.loc_key, v)),
        ("DEFAULT_QOSCLASS", lambda v: tagging.check_tag(tagging.QOS_TAG, v)),
    )
    for key, check in checks:
        try:
            check(str(cfg.get(key)))
        except BadInput as exc:
            raise ConfigError("%s in %s: %s" % (key, cfg.origin(key), exc)) from exc
    port = cfg.get("SP_API_HTTP_PORT")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError("SP_API_HTTP_PORT in %s: not a TCP port: %r" % (cfg.origin("SP_API_HTTP_PORT"), port))
    _check_token_endpoint(cfg)
    return cfg


def _check_token_endpoint(cfg: Config) -> None:
    """The token goes only to the endpoint it was configured with (never a datastore's own API)."""
    if not cfg.SP_AUTH_TOKEN or cfg.token_endpoint is None or cfg.token_endpoint == _endpoint(cfg.values):
        return
    key = "SP_API_HTTP_HOST" if cfg.token_endpoint[0] != _endpoint(cfg.values)[0] else "SP_API_HTTP_PORT"
    raise ConfigError(
        "%s in %s points the StorPool API at %s:%s without an SP_AUTH_TOKEN of its own; the token from %s "
        "is sent only to %s:%s (set SP_AUTH_TOKEN there too)"
        % (key, cfg.origin(key), cfg.SP_API_HTTP_HOST, cfg.SP_API_HTTP_PORT, cfg.origin("SP_AUTH_TOKEN"),
           cfg.token_endpoint[0], cfg.token_endpoint[1]))

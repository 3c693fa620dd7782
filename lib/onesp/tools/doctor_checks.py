"""The checks behind ``onesp doctor``: does this front-end's setup fit together?

In order: the configuration parses; the StorPool API answers and accepts the token; oned
answers; every datastore whose DS_MAD or TM_MAD is storpool has DISK_TYPE BLOCK (a system
datastore also CONTEXT_DISK_TYPE: else oned writes its disks as files) and its StorPool template
``<px>-ds-<id>`` with placement and replication; every host of those datastores' clusters
has a StorPool client id; oned.conf and vmm_execrc carry the registration; the remotes tree
holds this version as it was installed; an ``onesp server`` answers and runs those files. Each check
is one ``Check`` row; a failed row says how to fix it. A check whose input failed is skipped (with the reason), never guessed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Tuple

from .. import __version__
from ..runtime import clients, config, configfiles, storpoolanswers
from ..runtime import storpoolapi as storpool
from ..runtime.errors import ConfigError, OnespError
from ..runtime.hostexec import Host, runner_from_config
from ..runtime.storpoolerrors import ApiAuthError

if TYPE_CHECKING:  # the oned client is imported when the oned check runs
    from ..one import Datastore, OneClient

OK, FAIL, WARN, SKIP = "ok", "FAIL", "warn", "skip"
DRIVER = "storpool"
#: What OpenNebula 7.2+ refuses when a system datastore says NO (VirtualMachineAPI.cc, migrate).
_REFUSED = {"DS_LIVE_MIGRATE": "live migration to another system datastore",
            "DS_MIGRATE_SNAP": "moving a VM with disk snapshots to another system datastore"}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Places:
    oned_conf: str
    vmm_execrc: str
    remotes: str


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return scheme + sep + host.rpartition("@")[2] + slash + path


def _rc_files(env: Mapping[str, str]) -> List[str]:
    """The rc files config.load reads, in order (for messages and the registration plan)."""
    return configfiles.rc_files(env)


#: What oned reads to write ``<disk type='block'>``: an image datastore's DISK_TYPE (its disks);
#: a system datastore's DISK_TYPE (volatile disks) and CONTEXT_DISK_TYPE (the context CD-ROM).
_DISK_TYPE_KEYS = {False: ("DISK_TYPE",), True: ("DISK_TYPE", "CONTEXT_DISK_TYPE")}


def disk_types(ds: "Datastore") -> List[str]:
    """What of ``ds``'s disk types is not BLOCK (datastores on other TMs are not asked about)."""
    if ds.tm_mad != DRIVER:
        return []
    wrong = []
    for key in _DISK_TYPE_KEYS[ds.is_system]:
        value = (ds.template.text(key) or "").strip().upper()
        if value != "BLOCK":
            wrong.append("%s is %s" % (key, value) if value else "%s is not set" % key)
    return wrong


class Doctor:
    def __init__(self, places: Places, env: Mapping[str, str]) -> None:
        self.places = places
        self.env = env
        self.checks: List[Check] = []
        self.cfg: Optional[config.Config] = None
        self.api_ok = False
        self.one: Optional[OneClient] = None
        # per API endpoint: the templates by name (StorPool's JSON), what went wrong, whether the token was refused
        self.answers: Dict[Tuple[str, int], Tuple[Optional[Dict[str, storpoolanswers.Template]], str, bool]] = {}

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    def run(self) -> List[Check]:
        self.configuration()
        self.storpool_api()
        self.oned()
        datastores = self.datastores()
        self.hosts(datastores)
        self.registration()
        self.remotes()
        self.fencing()
        from . import doctor_operations

        doctor_operations.host_probe(self, datastores)
        doctor_operations.retag_hook(self)
        self.server()
        self.compiled_client()
        return self.checks

    # -- configuration -------------------------------------------------------------------------
    def configuration(self) -> None:
        files = [p for p in _rc_files(self.env) if os.path.isfile(p)]
        try:
            self.cfg = config.load(env=self.env)
        except ConfigError as exc:
            self.add("configuration", FAIL, str(exc), "correct that value (every key is described in docs/configuration.md)")
            return
        where = ", ".join(files) if files else "no addon-storpoolrc found, built-in defaults"
        detail = "%s; ONE_PX=%s" % (where, self.cfg.ONE_PX)
        if self.cfg.warnings:
            self.add("configuration", WARN, "%s; values onesp cannot read: %s" % (detail, "; ".join(self.cfg.warnings)),
                     "correct them (docs/configuration.md, 'Values onesp cannot read', says what is used meanwhile)")
            return
        if self.cfg.unknown:
            unknown = ", ".join("%s (%s)" % (key, path) for key, path in sorted(self.cfg.unknown.items()))
            self.add("configuration", WARN, "%s; unknown keys, ignored: %s" % (detail, unknown),
                     "check their spelling against docs/configuration.md")
            return
        self.add("configuration", OK, detail)

    # -- StorPool ----------------------------------------------------------------------------------
    def _templates(self, cfg: config.Config) -> Tuple[Optional[Dict[str, storpoolanswers.Template]], str, bool]:
        """The templates at ``cfg``'s endpoint (asked once per endpoint): (templates or None,
        what went wrong, whether the token was refused)."""
        key = cfg.endpoint
        if key not in self.answers:
            try:
                client = storpool.StorPool(key[0], key[1], str(cfg.SP_AUTH_TOKEN or ""), retries=0,
                                           timeout=float(cfg.SP_API_TIMEOUT),
                                           connect_timeout=float(cfg.SP_API_CONNECT_TIMEOUT))
                self.answers[key] = ({t["name"]: t for t in client.templates()}, "", False)
            except OnespError as exc:
                self.answers[key] = (None, "%s: %s" % (exc.kind, exc), isinstance(exc, ApiAuthError))
        return self.answers[key]

    def storpool_api(self) -> None:
        if self.cfg is None:
            self.add("StorPool API", SKIP, "the configuration does not load")
            return
        endpoint = "%s:%s" % (self.cfg.SP_API_HTTP_HOST, self.cfg.SP_API_HTTP_PORT)
        if not self.cfg.SP_AUTH_TOKEN:
            self.add("StorPool API", FAIL, "%s: no token (SP_AUTH_TOKEN is not set)" % endpoint,
                     "set SP_AUTH_TOKEN in addon-storpoolrc, or make /etc/storpool.conf (with SP_AUTH_TOKEN) "
                     "readable by oneadmin")
            return
        templates, problem, refused = self._templates(self.cfg)
        if templates is None:
            fix = ("use the API token of this cluster (SP_AUTH_TOKEN in /etc/storpool.conf on a StorPool node)"
                   if refused else "check SP_API_HTTP_HOST and SP_API_HTTP_PORT, that the StorPool API "
                   "(storpool_mgmt) runs, and that no firewall is in the way")
            self.add("StorPool API", FAIL, "%s: %s" % (endpoint, problem), fix)
            return
        self.api_ok = True
        self.add("StorPool API", OK, "%s: token accepted, %d templates" % (endpoint, len(templates)))

    # -- oned ----------------------------------------------------------------------------------------
    def oned(self) -> None:
        from ..one import OneClient

        try:
            one = OneClient.from_environment(self.cfg.oned_environment(self.env) if self.cfg else self.env)
            datastores, hosts = one.datastore_pool(), one.host_pool()
        except OnespError as exc:
            self.add("oned", FAIL, str(exc), "set ONE_XMLRPC and ONE_AUTH (or ~/.one/one_auth) as for the "
                     "onevm command, and run as oneadmin")
            return
        self.one = one
        self.add("oned", OK, "%s: %d datastores, %d hosts" % (_without_password(one.endpoint), len(datastores),
                                                                len(hosts)))

    def datastores(self) -> List["Datastore"]:
        if self.one is None or self.cfg is None:
            self.add("datastores", SKIP, "oned or the configuration is not usable")
            return []
        ours = [ds for ds in self.one.datastore_pool() if DRIVER in (ds.ds_mad, ds.tm_mad)]
        if not ours:
            self.add("datastores", WARN, "no datastore uses the storpool drivers yet",
                     "create them with onedatastore create (docs/installation.md)")
        for ds in ours:
            self._datastore(ds, self.cfg)
            self._moves(ds)
        return ours

    def _moves(self, ds: "Datastore") -> None:
        """A row only for a system datastore whose template refuses moves: oned 7.2+ copies
        DS_LIVE_MIGRATE and DS_MIGRATE_SNAP from TM_MAD_CONF when a datastore is created, and
        its upgrade writes NO into the existing datastores of a driver it does not know."""
        if ds.tm_mad != DRIVER or not ds.is_system:
            return
        refused = [key for key in ("DS_LIVE_MIGRATE", "DS_MIGRATE_SNAP") if ds.template.get_flag(key) is False]
        if refused:
            self.add("datastore %d moves" % ds.id, WARN,
                     "%s: %s: oned refuses %s" % (ds.name, ", ".join("%s=NO" % key for key in refused),
                                                 " and ".join(_REFUSED[key] for key in refused)),
                     "onedatastore update %d --append, with %s" % (ds.id, " ".join('%s="YES"' % k for k in refused)))

    def _datastore(self, ds: "Datastore", base: config.Config) -> None:
        name = "datastore %d" % ds.id
        wrong = disk_types(ds)
        if wrong:
            self.add(name, FAIL, "%s: %s, so QEMU opens its StorPool volumes as files" % (ds.name, ", ".join(wrong)),
                     "onedatastore update %d and set %s (VMs deployed afterwards use it)"
                     % (ds.id, ", ".join('%s = "BLOCK"' % key for key in _DISK_TYPE_KEYS[ds.is_system])))
            return
        try:
            cfg = base.with_datastore(ds.template, "datastore %d" % ds.id)
            template = cfg.names.template(ds.id)
        except OnespError as exc:
            self.add(name, FAIL, str(exc), "correct the datastore's SP_* attributes (onedatastore update %d)" % ds.id)
            return
        own_endpoint = (cfg.SP_API_HTTP_HOST, cfg.SP_API_HTTP_PORT) != (base.SP_API_HTTP_HOST, base.SP_API_HTTP_PORT)
        if not own_endpoint and not self.api_ok:
            self.add(name, SKIP, "%s (%s): the StorPool API is not usable" % (ds.name, template))
            return
        templates, problem, _ = self._templates(cfg)
        if templates is None:
            self.add(name, FAIL, "%s: StorPool API %s:%s: %s" % (ds.name, cfg.SP_API_HTTP_HOST, cfg.SP_API_HTTP_PORT,
                                                                 problem),
                     "correct SP_API_HTTP_HOST, SP_API_HTTP_PORT and SP_AUTH_TOKEN of the datastore "
                     "(onedatastore update %d)" % ds.id)
            return
        found = templates.get(template)
        if found is None:
            self.add(name, FAIL, "%s: StorPool template %s does not exist" % (ds.name, template),
                     "create it: storpool template %s replication 3 placeAll <group> placeTail <group>" % template)
            return
        replication = found.get("replication")
        place_all = found.get("placeAll") or ""
        missing = []
        if not isinstance(replication, int) or replication < 1:
            missing.append("replication")
        if not place_all:
            missing.append("placeAll")
        if missing:
            self.add(name, FAIL, "%s: StorPool template %s has no %s" % (ds.name, template, " and no ".join(missing)),
                     "set it: storpool template %s%s%s" % (template, " replication 3" if "replication" in missing else "",
                                                           " placeAll <group>" if place_all == "" else ""))
            return
        detail = "%s: template %s, replication %s, placeAll %s, placeTail %s" % (
            ds.name, template, replication, place_all, found.get("placeTail") or place_all)
        unreadable = cfg.warnings[len(base.warnings):]
        if unreadable:
            self.add(name, WARN, "%s; values onesp cannot read: %s" % (detail, "; ".join(unreadable)),
                     "correct the datastore's attributes (onedatastore update %d)" % ds.id)
        else:
            self.add(name, OK, detail)
        if cfg.SP_DISK_LIMITS:
            from ..runtime.limits import check_template

            status, detail, fix = check_template(found)
            self.add("%s disk limits" % name, OK if status == "ok" else WARN, detail, fix)

    # -- hosts ---------------------------------------------------------------------------------------
    def hosts(self, datastores: List["Datastore"]) -> None:
        if not datastores or self.one is None or self.cfg is None:
            return
        clusters = {cluster for ds in datastores for cluster in ds.cluster_ids}
        hosts = [h for h in self.one.host_pool() if h.cluster_id in clusters]
        if not hosts:
            self.add("hosts", WARN, "no host in cluster(s) %s" % ", ".join(str(c) for c in sorted(clusters)),
                     "add the hypervisors to the datastores' clusters (onehost create, onecluster addhost)")
            return
        by_name = {h.name: h for h in hosts}
        cfg = self.cfg
        ids = clients.from_config(
            cfg,
            lambda name: by_name[name].template.get("SP_OURID") if name in by_name else None,
            lambda name: Host(name, runner_from_config(cfg), 15.0).run(["storpool_confget"], what="storpool_confget"),
            self.env,
        )
        seen: Dict[int, str] = {}
        for host in hosts:
            name = "host %s" % host.name
            try:
                client = ids(host.name)
            except OnespError as exc:
                self.add(name, FAIL, str(exc), "set it: onehost update %s (SP_OURID = <id>), or give the host a "
                         "[%s] section with SP_OURID in /etc/storpool.conf" % (host.name, host.name))
                continue
            if client in seen:
                self.add(name, FAIL, "client id %d is also the id of host %s" % (client, seen[client]),
                         "each host needs its own StorPool client id: correct SP_OURID of one of them")
                continue
            seen[client] = host.name
            self.add(name, OK, "cluster %s, StorPool client id %d" % (host.cluster_id, client))

    # -- installation --------------------------------------------------------------------------------
    def registration(self) -> None:
        from .install import autoconf, execrc, registration
        from .install.onedconf import OnedConfError

        fix = "run install.sh --autoconf (it keeps a copy of the file), or add it by hand (docs/installation.md)"
        plan = autoconf.plan_for(self.places.remotes, _rc_files(self.env))
        try:
            text = autoconf.read_text(self.places.oned_conf)
            missing = registration.missing(text, plan)
            differences = registration.differences(text)
        except OSError as exc:
            self.add("oned.conf", FAIL, "%s: cannot read it: %s" % (self.places.oned_conf, exc.strerror or exc),
                     "run as root or oneadmin, or name the file with --oned-conf")
        except OnedConfError as exc:
            self.add("oned.conf", FAIL, "%s: %s" % (self.places.oned_conf, exc), "correct the syntax at that line")
        else:
            if missing and not registration.missing(text, plan.without_deploy()):
                # only the deploy helper: nothing breaks, VMs just get no persistent CD-ROM trays
                self.add("oned.conf", WARN, "%s lacks: %s: VMs with T_PERSISTENT_CDROM get no CD-ROM trays"
                         % (self.places.oned_conf, "; ".join(missing)), fix)
            elif missing:
                self.add("oned.conf", FAIL, "%s lacks: %s" % (self.places.oned_conf, "; ".join(missing)), fix)
            elif differences:
                self.add("oned.conf", WARN, "%s: %s" % (self.places.oned_conf, "; ".join(differences)),
                         "use onesp's values unless you chose these on purpose")
            else:
                self.add("oned.conf", OK, "%s: storpool registered" % self.places.oned_conf)
        try:
            lacking = execrc.missing(autoconf.read_text(self.places.vmm_execrc))
        except OSError as exc:
            self.add("vmm_execrc", FAIL, "%s: cannot read it: %s" % (self.places.vmm_execrc, exc.strerror or exc),
                     "run as root or oneadmin, or name the file with --vmm-execrc")
            return
        except OnedConfError as exc:
            self.add("vmm_execrc", FAIL, "%s: %s" % (self.places.vmm_execrc, exc), "add %s by hand" % execrc.PAIR)
            return
        if lacking:
            self.add("vmm_execrc", FAIL, "%s: %s lacks %s (live disk snapshots are refused)"
                     % (self.places.vmm_execrc, execrc.KEY, execrc.PAIR), fix)
        else:
            self.add("vmm_execrc", OK, "%s: live disk snapshots allowed" % self.places.vmm_execrc)

    def remotes(self) -> None:
        from .install import files

        where = self.places.remotes
        try:
            record, problems = files.verify(where)
        except ConfigError as exc:
            self.add("remotes", FAIL, str(exc), "run install.sh again (--prefix %s)" % where)
            return
        if record is None:
            self.add("remotes", FAIL, "%s: onesp is not installed there" % where,
                     "run install.sh (--prefix %s), then onehost sync --force" % where)
        elif record.version != __version__:
            self.add("remotes", FAIL, "%s holds onesp %s, this is %s" % (where, record.version, __version__),
                     "run install.sh of onesp %s, then onehost sync --force" % __version__)
        elif problems:
            shown = ", ".join(problems[:5]) + (" and %d more" % (len(problems) - 5) if len(problems) > 5 else "")
            self.add("remotes", FAIL, "%s: %d files differ from the installation: %s" % (where, len(problems), shown),
                     "run install.sh again to restore them, then onehost sync --force")
        else:
            self.add("remotes", OK, "%s: onesp %s, %d files as installed" % (where, __version__, len(record.files)))


    def fencing(self) -> None:
        """A row only where OpenNebula's fault-tolerance hooks are (``<remotes>/hooks/ft``):
        does the fencing script host_error.rb runs call ``onesp fence``?"""
        from .fence import check_hook

        if not os.path.isdir(os.path.join(self.places.remotes, "hooks", "ft")):
            return
        status, detail, fix = check_hook(self.places.remotes)
        self.add("host fencing", {"ok": OK, "warn": WARN}.get(status, WARN), detail, fix)

    def server(self) -> None:
        """Whether an ``onesp server`` answers and runs the installed files (else actions run
        in-process: correct, only slower)."""
        from ..runtime import actionserver as server
        from ..runtime import client

        directory = client.server_dir(self.env)
        if not directory:
            self.add("server", WARN, "ONESP_SERVER_DIR is empty: actions run in-process", "unset ONESP_SERVER_DIR")
            return
        ok, detail = server.probe(directory, os.path.join(self.places.remotes, "lib", "onesp"))
        if ok:
            self.add("server", OK, detail)
        else:
            self.add("server", WARN, "%s; actions run in-process (slower)" % detail,
                     "systemctl enable --now onesp-server (after an upgrade or onehost sync: systemctl restart onesp-server)")

    def compiled_client(self) -> None:
        """Whether install.sh built the compiled client: without it every action is handed to
        the server by a Python process, about 10 ms slower to start (correct all the same)."""
        from .install import compiled

        path = os.path.join(self.places.remotes, compiled.RELATIVE)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            self.add("compiled client", OK, "%s: the executables hand actions over in about 1 ms" % path)
        else:
            self.add("compiled client", WARN, "%s is missing or not executable: the executables start Python to hand"
                     " each action over (about 10 ms more each)" % path,
                     "install a C compiler (gcc) and run install.sh again")


def run(places: Places, env: Optional[Mapping[str, str]] = None) -> List[Check]:
    return Doctor(places, os.environ if env is None else env).run()

"""The installer's command line (argparse, so installing needs only python3 and lxml).

Locations follow OpenNebula's: with ``ONE_LOCATION`` set (a self-contained install)
remotes are ``$ONE_LOCATION/var/remotes`` and configuration ``$ONE_LOCATION/etc``;
otherwise ``/var/lib/one/remotes`` and ``/etc/one``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from ... import __version__
from ...runtime.configfiles import ADDON_CONF, one_location, rc_override
from ...runtime.errors import ConfigError
from . import autoconf, files
from . import manifest as manifests

SHIPPED_SOURCE = Path(__file__).resolve().parents[4]


def defaults(env: Mapping[str, str]) -> Dict[str, str]:
    base = one_location(env)
    if base:
        return {"remotes": os.path.join(base, "var", "remotes"), "oned_conf": os.path.join(base, "etc", "oned.conf"),
                "vmm_execrc": os.path.join(base, "etc", "vmm_exec", "vmm_execrc")}
    return {"remotes": "/var/lib/one/remotes", "oned_conf": "/etc/one/oned.conf",
            "vmm_execrc": "/etc/one/vmm_exec/vmm_execrc"}


def _default_owner() -> Optional[str]:
    try:
        pwd.getpwnam("oneadmin")
        return "oneadmin"
    except KeyError:
        return None


def _default_unit_dir(env: Mapping[str, str]) -> str:
    """/etc/systemd/system on a machine systemd runs, for a system install; else nowhere."""
    return "/etc/systemd/system" if os.path.isdir("/run/systemd/system") and not one_location(env) else ""


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    where = defaults(env)
    p = argparse.ArgumentParser(
        prog="install.sh",
        description="Install the onesp StorPool drivers into OpenNebula's remotes (re-run to upgrade in place).",
        epilog="AUTOCONF=1 in the environment is the same as --autoconf. Example: AUTOCONF=1 ./install.sh",
    )
    p.add_argument("--prefix", default=where["remotes"], metavar="DIR",
                   help="OpenNebula's remotes directory (default: %(default)s)")
    p.add_argument("--autoconf", action="store_true", default=env.get("AUTOCONF", "") not in ("", "0", "no"),
                   help="also register the drivers in oned.conf and vmm_execrc (a copy of each file is kept first)")
    p.add_argument("--oned-conf", default=where["oned_conf"], metavar="FILE", help="default: %(default)s")
    p.add_argument("--vmm-execrc", default=where["vmm_execrc"], metavar="FILE", help="default: %(default)s")
    p.add_argument("--owner", default=_default_owner(), metavar="USER",
                   help="owner of the installed files when run as root (default: oneadmin if it exists)")
    p.add_argument("--bindir", default="/usr/local/bin", metavar="DIR",
                   help="where to put the onesp command ('' for nowhere; default: %(default)s)")
    p.add_argument("--unit-dir", default=_default_unit_dir(env), metavar="DIR",
                   help="where to put the systemd unit of the action server, onesp-server.service ('' for nowhere; "
                        "default: %(default)s when systemd runs this machine)")
    p.add_argument("--backup-dir", default=None, metavar="DIR",
                   help="where copies of replaced files go (default: <prefix>/../onesp-backup)")
    p.add_argument("--source", default=str(SHIPPED_SOURCE), metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--uninstall", action="store_true",
                   help="remove what the last install put in place and take back its oned.conf changes")
    p.add_argument("--force", action="store_true", help="with --uninstall: remove the files even if oned.conf cannot be restored")
    return p


def _say(line: str) -> None:
    print(line, flush=True)


def _rc_files(remotes: str, env: Mapping[str, str]) -> List[str]:
    override = rc_override(env)
    if override is not None:
        return override
    return [os.path.join(remotes, files.RC), ADDON_CONF]


def _autoconf(args: argparse.Namespace, record: manifests.Manifest, env: Mapping[str, str]) -> "tuple[bool, bool]":
    """Register in oned.conf/vmm_execrc; (oned.conf changed, every file could be handled)."""
    plan = autoconf.plan_for(record.remotes, _rc_files(record.remotes, env))
    changed = False
    complete = True
    for report in autoconf.configure(os.path.abspath(args.oned_conf), os.path.abspath(args.vmm_execrc), plan):
        for line in report.lines():
            _say(line)
        entry = record.autoconf.setdefault(report.path, {"label": report.label, "records": [], "backups": []})
        entry["records"] = list(entry["records"]) + report.records
        if report.backup:
            entry["backups"] = list(entry["backups"]) + [report.backup]
        changed = changed or (report.label == autoconf.ONED_CONF and bool(report.records))
        complete = complete and report.error is None
    return changed, complete


def _next_steps(args: argparse.Namespace, restart: bool) -> None:
    steps = ["check %s (ONE_PX, and the StorPool API: SP_API_HTTP_HOST, SP_API_HTTP_PORT, SP_AUTH_TOKEN,"
             " unless /etc/storpool.conf has them)" % os.path.join(args.prefix, files.RC)]
    if not args.autoconf:
        steps.append("register the drivers in %s: run again with --autoconf, or edit it by hand (docs/installation.md)"
                     % args.oned_conf)
    if restart:
        steps.append("restart oned to load the new oned.conf: systemctl restart opennebula")
    if args.unit_dir:
        steps.append("start the action server (or restart it after an upgrade): systemctl daemon-reload && "
                     "systemctl enable --now onesp-server && systemctl restart onesp-server")
    steps += [
        "copy the drivers to the hosts, as oneadmin: onehost sync --force",
        "create a StorPool template <ONE_PX>-ds-<id> for each datastore, then the datastores (docs/installation.md)",
        "register the retag hook once, as oneadmin: onehook create %s (docs/operations.md)"
        % os.path.join(os.path.abspath(args.prefix), "hooks", "storpool", "retag.hook"),
        "check everything fits: onesp doctor",
    ]
    _say("next steps:")
    for number, step in enumerate(steps, 1):
        _say("  %d. %s" % (number, step))


def install(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    remotes = os.path.abspath(args.prefix)
    backup_dir = args.backup_dir or os.path.join(os.path.dirname(remotes), "onesp-backup")
    installer = files.Installer(args.source, remotes, files.owner_named(args.owner), backup_dir, _say)
    record = installer.install()
    installer.save()  # saved after every step: an interrupted run still uninstalls cleanly
    if args.bindir:
        installer.launcher(args.bindir)
        installer.save()
    if args.unit_dir:
        installer.unit(args.unit_dir)
        installer.save()
    restart, complete = _autoconf(args, record, env) if args.autoconf else (False, True)
    installer.save()
    _next_steps(args, restart)
    if not complete:
        print("install.sh: error: the files are installed but the registration is incomplete (see above)", file=sys.stderr)
        return 1
    return 0


def uninstall(args: argparse.Namespace) -> int:
    remotes = os.path.abspath(args.prefix)
    record = manifests.load(remotes)
    if record is None:
        raise ConfigError("nothing to uninstall: %s has no %s" % (remotes, manifests.NAME))
    failed = False
    for report in autoconf.unconfigure(record.autoconf):
        for line in report.lines():
            _say(line)
        failed = failed or report.error is not None
    if failed and not args.force:
        raise ConfigError("the drivers are still registered, so their files stay installed;"
                          " fix the file named above (or take the registration out by hand) and run again, or add --force")
    files.uninstall(remotes, _say)
    if record.autoconf:
        _say("restart oned so it stops loading the storpool drivers: systemctl restart opennebula")
    _say("onesp %s uninstalled from %s" % (__version__, remotes))
    return 0


def main(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    args = parser(env).parse_args(list(argv))
    try:
        return uninstall(args) if args.uninstall else install(args, env)
    except ConfigError as exc:
        print("install.sh: error: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print("install.sh: error: %s: %s" % (getattr(exc, "filename", "") or "", exc.strerror or exc), file=sys.stderr)
        return 1

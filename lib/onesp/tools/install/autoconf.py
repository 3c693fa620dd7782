"""AUTOCONF: register the drivers in oned.conf and vmm_execrc on disk, and take it back.

A file is read as bytes and written back with only the registration's bytes changed.
Before the first change to a file a copy is kept next to it
(``oned.conf.onesp-<UTC time>``); a file that is already registered is not touched
and gets no new copy. A file this editor cannot read is left as it is and the reason
is reported. What was added is returned as records, which the manifest keeps, so
uninstalling removes exactly that.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Sequence

from ...runtime import config, configfiles
from ...runtime.errors import ConfigError
from ...runtime.settings import BY_NAME
from . import execrc, registration
from .items import Record
from .onedconf import OnedConfError
from .registration import Plan

ONED_CONF = "oned.conf"
VMM_EXECRC = "vmm_execrc"


@dataclass
class FileReport:
    """What happened to one configuration file."""

    label: str
    path: str
    changes: List[str] = field(default_factory=list)
    records: List[Record] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    backup: Optional[str] = None
    error: Optional[str] = None

    def lines(self) -> List[str]:
        out = []
        if self.error:
            out.append("%s %s: left unchanged: %s" % (self.label, self.path, self.error))
        elif self.changes:
            out.append("%s %s: %s (copy of the original: %s)" % (self.label, self.path, "; ".join(self.changes), self.backup))
        else:
            out.append("%s %s: nothing to change" % (self.label, self.path))
        out += ["%s: note: %s" % (self.label, note) for note in self.notes]
        return out


def plan_for(remotes: str, rc_files: Sequence[str] = ()) -> Plan:
    """The registration for an installed remotes tree: the VMM helpers present in
    ``<remotes>/vmm/kvm``, VM snapshot overrides unless VMSNAPSHOT_OVERRIDE is off, and the
    checkpoint helpers when SP_CHECKPOINT or SP_CHECKPOINT_BD is on in the given rc files
    (later files win, as for the drivers)."""
    helpers_dir = os.path.join(remotes, "vmm", "kvm")
    helpers = frozenset(os.listdir(helpers_dir)) if os.path.isdir(helpers_dir) else frozenset()
    return Plan(helpers, bool(_rc_value("VMSNAPSHOT_OVERRIDE", rc_files)),
                config.checkpoints_on_storpool(_rc_value("SP_CHECKPOINT", rc_files), _rc_value("SP_CHECKPOINT_BD", rc_files)))


def _rc_value(name: str, rc_files: Sequence[str]) -> object:
    """``name`` as the drivers read it from ``rc_files``; an unreadable value is the default (or
    no) here, and the actions and onesp doctor name it."""
    setting = BY_NAME[name]
    value = config.convert(setting, setting.default, "built-in default")
    for path in rc_files:
        if not os.path.isfile(path):
            continue
        found = configfiles.parse_assignments(read_text(path), path).get(setting.name)
        if found is not None:
            try:
                value = config.convert(setting, found[0], "%s line %d" % (path, found[1]), [])
            except ConfigError:
                value = config.convert(setting, setting.default, "built-in default")
    return value


def read_text(path: str) -> str:
    """The file's exact content (any bytes survive a read/write round trip)."""
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def write_text(path: str, text: str) -> None:
    """Replace ``path`` atomically, keeping its mode and (as root) its owner."""
    info = os.stat(path)
    temporary = "%s.onesp-new.%d" % (path, os.getpid())
    try:
        with open(temporary, "wb") as handle:
            handle.write(text.encode("utf-8", "surrogateescape"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, info.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(temporary, info.st_uid, info.st_gid)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def backup(path: str) -> str:
    """Copy ``path`` to ``<path>.onesp-<UTC time>`` (never over an earlier copy)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = "%s.onesp-%s" % (path, stamp)
    number = 1
    while os.path.exists(target):
        number += 1
        target = "%s.onesp-%s.%d" % (path, stamp, number)
    shutil.copy2(path, target)
    if os.geteuid() == 0:
        info = os.stat(path)
        os.chown(target, info.st_uid, info.st_gid)
    return target


def _commit(report: FileReport, original: str, new: str, dry_run: bool) -> None:
    if new == original or dry_run:
        return
    report.backup = backup(report.path)
    write_text(report.path, new)


def configure(oned_conf: str, vmm_execrc: str, plan: Plan, dry_run: bool = False) -> List[FileReport]:
    """Register the drivers in both files (each on its own: one failing leaves the other done)."""
    reports = []
    report = FileReport(ONED_CONF, oned_conf)
    try:
        original = read_text(oned_conf)
        outcome = registration.register(original, plan)
        report.records, report.changes, report.notes = outcome.records, ["added " + a for a in outcome.added], outcome.notes
        _commit(report, original, outcome.text, dry_run)
    except OnedConfError as exc:
        report.error = "cannot edit it safely: %s" % exc
    except OSError as exc:
        report.error = "cannot read or write it: %s" % (exc.strerror or exc)
    reports.append(report)

    report = FileReport(VMM_EXECRC, vmm_execrc)
    try:
        original = read_text(vmm_execrc)
        new, record, notes = execrc.register(original)
        report.notes = notes
        if record is not None:
            report.records, report.changes = [record], ["added %s to %s" % (execrc.PAIR, execrc.KEY)]
        _commit(report, original, new, dry_run)
    except OnedConfError as exc:
        report.error = "cannot edit it safely: %s" % exc
    except OSError as exc:
        report.error = "cannot read or write it: %s" % (exc.strerror or exc)
    reports.append(report)
    return reports


def unconfigure(recorded: Mapping[str, Mapping[str, Any]]) -> List[FileReport]:  # the manifest's JSON
    """Take back what ``configure`` recorded: ``{path: {"label": ..., "records": [...]}}``."""
    reports = []
    for path, entry in sorted(recorded.items(), key=lambda item: item[1].get("label") != VMM_EXECRC):
        records: Sequence[Record] = entry.get("records") or []
        if not records:
            continue
        report = FileReport(str(entry.get("label", ONED_CONF)), path)
        try:
            original = read_text(path)
            if report.label == ONED_CONF:
                outcome = registration.unregister(original, records)
                new, report.notes = outcome.text, outcome.notes
                report.changes = ["removed " + a for a in outcome.added]
            else:
                new = original
                for record in records:
                    new = execrc.unregister(new, record)
                if new != original:
                    report.changes = ["removed %s from %s" % (execrc.PAIR, execrc.KEY)]
            _commit(report, original, new, False)
        except OnedConfError as exc:
            report.error = "cannot edit it safely: %s; remove the storpool registration by hand" % exc
        except OSError as exc:
            report.error = "cannot read or write it: %s" % (exc.strerror or exc)
        reports.append(report)
    return reports

"""Copy the drivers and the library into OpenNebula's remotes tree, and take them out again.

Layout in ``<remotes>`` (what ``onehost sync`` carries to the hosts):
``datastore/storpool/*``, ``tm/storpool/*``, our helpers in ``vmm/kvm/``, the library in
``lib/onesp/`` (the executables find it as ``../../lib``), ``addon-storpoolrc`` and the
record ``onesp-install.json``. Files are replaced atomically (a running action keeps the
file it opened). A file of someone else at one of our paths (the bash addon's, say) is
copied to the backup directory first and put back by uninstall. Re-running installs in
place: unchanged files are left alone, files an older version shipped and this one does
not are removed.
"""

from __future__ import annotations

import difflib
import os
import pwd
import shutil
import sys
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from ... import __version__
from ...runtime import client
from ...runtime.errors import ConfigError
from . import compiled
from . import manifest as manifests
from .manifest import Manifest, sha256_of, sha256_text

DRIVER_DIRS = ("datastore/storpool", "tm/storpool", "vmm/kvm", "im/kvm-probes.d/host/system", "hooks/storpool")
LIBRARY = "lib/onesp"
RC = "addon-storpoolrc"
LAUNCHER_MARK = "# installed by onesp install.sh"
UNIT = "onesp-server.service"
#: The server's socket directory: systemd makes it 0700 for the unit's user at each start.
SERVER_DIR = "/run/onesp"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int
    name: str


def owner_named(name: Optional[str]) -> Optional[Owner]:
    """The user to own installed files (applied when running as root); None when not given."""
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise ConfigError("user %s does not exist" % name) from exc
    return Owner(entry.pw_uid, entry.pw_gid, name)


def shipped_files(source: str) -> List[Tuple[str, str]]:
    """(path relative to remotes, source path) of everything the installer copies."""
    found: List[Tuple[str, str]] = []
    for directory in DRIVER_DIRS:
        here = os.path.join(source, directory)
        for name in sorted(os.listdir(here)) if os.path.isdir(here) else []:
            path = os.path.join(here, name)
            if not name.startswith(".") and os.path.isfile(path):
                found.append(("%s/%s" % (directory, name), path))
    library = os.path.join(source, LIBRARY)
    if not os.path.isfile(os.path.join(library, "__init__.py")):
        raise ConfigError("%s is not an onesp source tree (no %s)" % (source, LIBRARY))
    for root, dirs, files in os.walk(library):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")) or name.startswith(".") or name == client.COMPILED:
                continue  # the compiled client is built for this machine (compiled.build), never copied
            path = os.path.join(root, name)
            found.append((os.path.relpath(path, source).replace(os.sep, "/"), path))
    return found


class Installer:
    def __init__(self, source: str, remotes: str, owner: Optional[Owner], backup_dir: str, say: Say) -> None:
        self.source = os.path.abspath(source)
        self.remotes = os.path.abspath(remotes)
        self.owner = owner
        self.backup_dir = backup_dir
        self.say = say
        self.previous = manifests.load(self.remotes)
        self.manifest = Manifest(__version__, self.remotes)
        self.manifest.backup_dir = backup_dir
        if self.previous is not None:
            self.manifest.directories = list(self.previous.directories)
            self.manifest.backups = dict(self.previous.backups)
            if self.previous.backups and self.previous.backup_dir:
                self.backup_dir = self.manifest.backup_dir = self.previous.backup_dir
            self.manifest.autoconf = dict(self.previous.autoconf)
            self.manifest.launcher = self.previous.launcher
            self.manifest.unit = self.previous.unit

    # -- helpers ---------------------------------------------------------------------------------
    def _chown(self, path: str) -> None:
        if self.owner is not None and os.geteuid() == 0:
            os.lchown(path, self.owner.uid, self.owner.gid)

    def _directory(self, relative: str) -> None:
        """Create ``relative`` and its missing parents, remembering which ones we made."""
        parts = relative.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            path = os.path.join(self.remotes, sub)
            if not os.path.isdir(path):
                os.mkdir(path, 0o755)
                self._chown(path)
                if sub not in self.manifest.directories:
                    self.manifest.directories.append(sub)

    def _write(self, relative: str, data: bytes, mode: int) -> bool:
        """Put ``data`` at ``relative`` atomically; False when it was already there."""
        target = os.path.join(self.remotes, relative)
        if os.path.isfile(target) and not os.path.islink(target):
            with open(target, "rb") as handle:
                same = handle.read() == data
            if same and (os.stat(target).st_mode & 0o7777) == mode:
                self._chown(target)
                return False
        temporary = _temporary(target)
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        self._chown(temporary)
        os.replace(temporary, target)
        return True

    def _keep_foreign(self, relative: str) -> None:
        """Copy a file we did not install, before replacing it, so uninstall can put it back."""
        target = os.path.join(self.remotes, relative)
        ours = self.previous is not None and relative in self.previous.files
        if ours or relative in self.manifest.backups or not os.path.lexists(target):
            return
        copy = os.path.join(self.backup_dir, relative)
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copy2(target, copy, follow_symlinks=False)
        self.manifest.backups[relative] = copy
        self.say("kept a copy of %s (not installed by onesp) in %s" % (target, copy))

    # -- the steps ---------------------------------------------------------------------------------
    def install(self) -> Manifest:
        if not os.path.isdir(self.remotes):
            raise ConfigError("%s does not exist: is OpenNebula installed? (choose another with --prefix)" % self.remotes)
        written = 0
        shipped = shipped_files(self.source)
        for relative, path in shipped:
            with open(path, "rb") as handle:
                data = handle.read()
            executable = relative.split("/")[0] != "lib" and os.access(path, os.X_OK)
            self._directory(relative.rsplit("/", 1)[0])
            self._keep_foreign(relative)
            target = os.path.join(self.remotes, relative)
            if os.path.islink(target):  # a link of the addon's (kept above): replaced by a file
                os.unlink(target)
            written += self._write(relative, data, 0o755 if executable else 0o644)
            self.manifest.files[relative] = sha256_text(data)
        made = self._compiled_client()
        self._remove_dropped({relative for relative, _ in shipped} | set(made))
        self.say("installed %d files into %s (%d changed), onesp %s" % (len(shipped), self.remotes, written, __version__))
        self._rc()
        self._report_leftovers({relative for relative, _ in shipped})
        return self.manifest

    def _compiled_client(self) -> List[str]:
        """Build the compiled client into the remotes tree: [its path] when built, else []
        (a client an earlier install built is then removed as no longer shipped)."""
        relative = compiled.RELATIVE
        target = os.path.join(self.remotes, relative)
        self._keep_foreign(relative)
        if not compiled.build(target, self.say):
            return []
        self._chown(target)
        self.manifest.files[relative] = sha256_of(target)
        self.say("built the compiled client %s" % target)
        return [relative]

    def _remove_dropped(self, shipped: "set[str]") -> None:
        for relative in sorted(set(self.previous.files if self.previous else ()) - shipped):
            target = os.path.join(self.remotes, relative)
            if os.path.lexists(target):
                os.unlink(target)
            self.say("removed %s (no longer part of onesp)" % target)
            _restore(self.manifest, relative, self.say)

    def _rc(self) -> None:
        target = os.path.join(self.remotes, RC)
        with open(os.path.join(self.source, RC), "rb") as handle:
            shipped = handle.read()
        previous = self.previous.rc if self.previous else {}
        installed = bool(previous.get("installed"))
        if not os.path.exists(target):
            self._write(RC, shipped, 0o640)
            self.manifest.rc = {"installed": True, "sha256": sha256_text(shipped), "shipped": shipped.decode("utf-8", "replace")}
            self.say("installed the default configuration %s" % target)
            return
        current = sha256_of(target)
        if installed and current == previous.get("sha256"):  # untouched since we wrote it: upgrade it
            if self._write(RC, shipped, 0o640):
                self.say("updated %s to the new defaults (it was never edited)" % target)
            self.manifest.rc = {"installed": True, "sha256": sha256_text(shipped), "shipped": shipped.decode("utf-8", "replace")}
            return
        old = previous.get("shipped")
        new = shipped.decode("utf-8", "replace")
        if old is not None and old != new:
            self.say("%s was left as it is; the shipped defaults changed:" % target)
            self._diff(old, new, "defaults of the previous install", "defaults of onesp %s" % __version__)
        elif old is None:
            with open(target, "rb") as handle:
                mine = handle.read().decode("utf-8", "replace")
            if mine != new:
                self.say("%s was left as it is; how it differs from onesp's defaults:" % target)
                self._diff(mine, new, target, "defaults of onesp %s" % __version__)
        self.manifest.rc = {"installed": installed, "sha256": previous.get("sha256"), "shipped": new}

    def _diff(self, old: str, new: str, old_name: str, new_name: str) -> None:
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""):
            self.say("    " + line)

    def _report_leftovers(self, shipped: "set[str]") -> None:
        for directory in DRIVER_DIRS[:2]:
            here = os.path.join(self.remotes, directory)
            others = sorted(name for name in os.listdir(here) if "%s/%s" % (directory, name) not in shipped
                            and not name.startswith(".")) if os.path.isdir(here) else []
            if others:
                self.say("note: %s also holds files onesp does not use (left from the bash addon?): %s"
                         % (here, ", ".join(others)))

    def launcher(self, bindir: str) -> None:
        """``<bindir>/onesp``: the operator command, running the library installed in remotes."""
        target = os.path.join(bindir, "onesp")
        if os.path.exists(target) and target != self.manifest.launcher:
            self.say("note: %s exists and is not onesp's launcher; left as it is" % target)
            return
        text = (
            "#!%s\n%s (from %s/lib)\n"
            "import sys\n\nsys.path.insert(0, %r)\n"
            "try:\n    from onesp.tools.cli import main\n"
            "except ImportError as exc:\n"
            "    sys.exit(\"onesp: %%s (the onesp command needs python3-click and python3-lxml)\" %% exc)\n"
            "main(prog_name=\"onesp\")\n"
        ) % (sys.executable or "/usr/bin/python3", LAUNCHER_MARK, self.remotes, os.path.join(self.remotes, "lib"))
        os.makedirs(bindir, exist_ok=True)
        _replace(target, text, 0o755)
        self.manifest.launcher = target
        self.say("installed the onesp command as %s" % target)

    def unit(self, unitdir: str) -> None:
        """``<unitdir>/onesp-server.service``: the resident action server (``onesp.runtime.actionserver``), as
        the owner of the files, its socket in a runtime directory only that user can enter."""
        target = os.path.join(unitdir, UNIT)
        if os.path.exists(target) and target != self.manifest.unit:
            self.say("note: %s exists and is not onesp's; left as it is" % target)
            return
        user = self.owner.name if self.owner is not None else pwd.getpwuid(os.geteuid()).pw_name
        text = (
            "%s\n"
            "[Unit]\n"
            "Description=onesp action server: runs the StorPool drivers' actions for oned from one loaded process\n"
            "After=network.target\n\n"
            "[Service]\n"
            "User=%s\n"
            "RuntimeDirectory=onesp\n"
            "RuntimeDirectoryMode=0700\n"
            "Environment=PYTHONPATH=%s\n"
            "ExecStart=%s -m onesp.runtime.actionserver --dir %s\n"
            "# running actions go on to their end when the server stops or restarts\n"
            "KillMode=process\n"
            "Restart=always\n"
            "RestartSec=1\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n"
        ) % (LAUNCHER_MARK, user, os.path.join(self.remotes, "lib"), sys.executable or "/usr/bin/python3", SERVER_DIR)
        os.makedirs(unitdir, exist_ok=True)
        _replace(target, text, 0o644)
        self.manifest.unit = target
        self.say("installed the systemd unit %s (start it: systemctl daemon-reload && systemctl enable --now %s)"
                 % (target, UNIT))

    def save(self) -> str:
        path = self.manifest.save()
        self._chown(path)
        return path


def _replace(target: str, text: str, mode: int) -> None:
    """Write ``text`` to ``target`` with ``mode`` by renaming a finished file over it."""
    temporary = _temporary(target)
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, target)


def _temporary(target: str) -> str:
    """A hidden name next to ``target`` to write before renaming (never run by oned)."""
    directory, name = os.path.split(target)
    return os.path.join(directory, ".%s.onesp-new.%d" % (name, os.getpid()))


def _restore(record: Manifest, relative: str, say: Say) -> None:
    copy = record.backups.pop(relative, None)
    if copy and os.path.lexists(copy):
        target = os.path.join(record.remotes, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(copy, target)
        say("put back %s" % target)


def _prune(top: str) -> None:
    """Remove ``top`` and the directories under it if they hold no file."""
    if not os.path.isdir(top):
        return
    for root, _, _ in sorted(os.walk(top), key=lambda entry: -entry[0].count(os.sep)):
        if not os.listdir(root):
            os.rmdir(root)


def uninstall(remotes: str, say: Say) -> Manifest:
    """Remove exactly what the manifest lists (addon-storpoolrc only if never edited)."""
    remotes = os.path.abspath(remotes)
    record = manifests.load(remotes)
    if record is None:
        raise ConfigError("nothing to uninstall: %s has no %s" % (remotes, manifests.NAME))
    for relative in sorted(record.files):
        target = os.path.join(remotes, relative)
        if os.path.lexists(target):
            os.unlink(target)
        _restore(record, relative, say)
    say("removed %d files from %s" % (len(record.files), remotes))
    rc = os.path.join(remotes, RC)
    if record.rc.get("installed") and os.path.isfile(rc):
        if sha256_of(rc) == record.rc.get("sha256"):
            os.unlink(rc)
        else:
            say("kept %s: it was edited after installation" % rc)
    if record.launcher and os.path.isfile(record.launcher):
        with open(record.launcher, encoding="utf-8", errors="replace") as handle:
            if LAUNCHER_MARK in handle.read():
                os.unlink(record.launcher)
    if record.unit and os.path.isfile(record.unit):
        with open(record.unit, encoding="utf-8", errors="replace") as handle:
            if LAUNCHER_MARK in handle.read():
                os.unlink(record.unit)
                say("removed %s (stop the server: systemctl disable --now %s)" % (record.unit, UNIT))
    for relative in sorted(record.directories, key=lambda d: -d.count("/")):
        path = os.path.join(remotes, relative)
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
    if record.backup_dir and not record.backups:
        _prune(record.backup_dir)
    os.unlink(manifests.path_in(remotes))
    return record


def verify(remotes: str) -> Tuple[Optional[Manifest], List[str]]:
    """The installation record and what in the tree differs from it (missing or changed files)."""
    record = manifests.load(remotes)
    if record is None:
        return None, []
    problems = []
    for relative, digest in sorted(record.files.items()):
        path = os.path.join(remotes, relative)
        if not os.path.isfile(path):
            problems.append("missing %s" % relative)
        elif sha256_of(path) != digest:
            problems.append("changed %s" % relative)
    return record, problems

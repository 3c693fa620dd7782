"""The record of an installation: ``<remotes>/onesp-install.json``.

It lists every file the installer wrote (with its SHA-256), the directories it created,
the files of others it replaced (and where their copies are), the state of
addon-storpoolrc, the launcher, and the oned.conf/vmm_execrc records. Uninstall removes
exactly this; ``onesp doctor`` compares the tree with it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from ...runtime.errors import ConfigError

NAME = "onesp-install.json"
FORMAT = 1


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Manifest:
    version: str
    remotes: str
    files: Dict[str, str] = field(default_factory=dict)  # path relative to remotes -> sha256
    directories: List[str] = field(default_factory=list)  # created by the installer, relative
    backups: Dict[str, str] = field(default_factory=dict)  # relative path -> copy of the file it replaced
    backup_dir: Optional[str] = None  # where those copies live
    rc: Dict[str, Any] = field(default_factory=dict)  # installed (bool), sha256 (as written), shipped (text)
    launcher: Optional[str] = None
    unit: Optional[str] = None  # the systemd unit of the action server
    autoconf: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # label -> path, records, backups
    format: int = FORMAT

    def save(self) -> str:
        path = os.path.join(self.remotes, NAME)
        temporary = path + ".new"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(temporary, path)
        return path


def path_in(remotes: str) -> str:
    return os.path.join(remotes, NAME)


def load(remotes: str) -> Optional[Manifest]:
    """The manifest of ``remotes``, None when nothing was installed there."""
    path = path_in(remotes)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError("cannot read the installation record %s: %s" % (path, exc)) from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError("%s is not an installation record this version understands" % path)
    known = {key: raw[key] for key in Manifest.__dataclass_fields__ if key in raw}
    known["remotes"] = remotes
    return Manifest(**known)

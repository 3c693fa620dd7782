"""A hypervisor's StorPool client id (SP_OURID), looked up as the bash addon does, minus its traps.

Sources, in the order of STORPOOL_CLIENT_ID_SOURCES:

ONEHOST   ``SP_OURID`` in the OpenNebula host template (reported by the StorPool probe, or set by hand)
LOCAL     the ``[<host>]`` section of the front-end's storpool.conf (also ``<host>.<COMMON_DOMAIN>``);
          unlike the addon, the global section never answers for a host
FROMHOST  ``storpool_confget`` run on the host itself over ssh

The first all-digit answer in 1..4095 wins. A host whose id no source knows is an error
before anything changes.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from .configfiles import storpool_conf_paths, storpool_conf_sections
from .errors import HostError, NotFound, OnespError


def _valid(raw: Optional[str]) -> Optional[int]:
    text = (raw or "").strip()
    if text.isdigit() and 1 <= int(text) <= 4095:
        return int(text)
    return None


class ClientIds:
    """Resolves and caches client ids for the duration of one action."""

    def __init__(
        self,
        sources: Sequence[str],
        common_domain: str,
        storpool_conf: str,
        storpool_conf_d: str,
        onehost: Callable[[str], Optional[str]],
        fromhost: Callable[[str], str],
    ) -> None:
        self.sources = [s.upper() for s in sources] or ["ONEHOST", "LOCAL", "FROMHOST"]
        self.common_domain = common_domain
        self.storpool_conf = storpool_conf
        self.storpool_conf_d = storpool_conf_d
        self.onehost = onehost
        self.fromhost = fromhost
        self.cache: Dict[str, int] = {}

    def __call__(self, host: str) -> int:
        if host in self.cache:
            return self.cache[host]
        tried = []
        for source in self.sources:
            lookup = {"ONEHOST": self._onehost, "LOCAL": self._local, "FROMHOST": self._fromhost}.get(source)
            if lookup is None:
                continue
            tried.append(source)
            found = lookup(host)
            if found is not None:
                self.cache[host] = found
                return found
        raise NotFound("no StorPool client id for host %s (looked in %s); set SP_OURID in its host template"
                       % (host, ", ".join(tried) or "nothing"))

    def _names(self, host: str) -> Sequence[str]:
        return [host] + (["%s.%s" % (host, self.common_domain)] if self.common_domain else [])

    def _onehost(self, host: str) -> Optional[int]:
        try:
            return _valid(self.onehost(host))
        except NotFound:
            return None

    def _local(self, host: str) -> Optional[int]:
        files = [self.storpool_conf] if os.path.isfile(self.storpool_conf) else []
        if os.path.isdir(self.storpool_conf_d):
            files += [os.path.join(self.storpool_conf_d, f) for f in sorted(os.listdir(self.storpool_conf_d))
                      if f.endswith(".conf") and not f.startswith(".")]
        found: Optional[int] = None
        for name in self._names(host):
            for path in files:
                section = storpool_conf_sections(path).get(name, {})
                if "SP_OURID" in section:
                    found = _valid(section["SP_OURID"])
            if found is not None:
                return found
        return None

    def _fromhost(self, host: str) -> Optional[int]:
        try:
            output = self.fromhost(host)
        except (HostError, OnespError):
            return None
        value = None
        for line in output.splitlines():
            key, _, raw = line.partition("=")
            if key.strip() == "SP_OURID":
                value = raw.strip().strip("'\"")
        return _valid(value)


def from_config(cfg: Any, onehost: Callable[[str], Optional[str]], fromhost: Callable[[str], str],
                env: Optional[Mapping[str, str]] = None) -> ClientIds:
    """The lookup ``cfg`` configures (STORPOOL_CLIENT_ID_SOURCES, COMMON_DOMAIN) over this
    machine's storpool.conf; ``onehost`` and ``fromhost`` answer the ONEHOST and FROMHOST sources."""
    conf, conf_d = storpool_conf_paths(env)
    return ClientIds(cfg.STORPOOL_CLIENT_ID_SOURCES, str(cfg.COMMON_DOMAIN), conf, conf_d, onehost, fromhost)

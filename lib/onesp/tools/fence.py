"""Storage-side fencing of a failed hypervisor: take its StorPool client off everything it holds.

When a host dies, OpenNebula's host-error hook (``ft/host_error.rb``) first runs
``ft/fence_host.sh`` and only then recreates (or reschedules) the host's VMs elsewhere. A host
that is only cut off from the front-end may still reach the storage network and keep writing
to the volumes its VMs had: fencing it at the storage side means detaching, with ``force``,
every volume and snapshot attached to its StorPool client, so its block devices disappear and
a late write fails instead of corrupting a disk that another host now runs.

StorPool's API (bindings 7.3.0) has no call that blocks a client from attaching again; a
forced detach is the whole of what the storage side can do. Nothing attaches to a client by
itself: only an API call (a driver action for a VM placed there) would.

Is the host really dead? It "still answers" when a trivial command runs there over the same
ssh the drivers use, within a short timeout; such a host is refused unless forced. StorPool's
own view of the client (``ServicesList``) is reported but does not decide: a client that is
still ``running`` in StorPool while ssh fails is the split-brain case fencing exists for.

Cost, whatever the cluster size: ``ServicesList``, ``AttachmentsList`` and one
``VolumesReassignWait`` carrying every detach (per object only if one vanished meanwhile).
There is no undo: giving a dead host its devices back is never wanted. A second run finds
nothing attached and changes nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..runtime.errors import BadInput, Busy, HostError, OnespError
from ..runtime.storpoolapi import StorPool
from ..runtime.storpoolerrors import ApiNotFound

LOG = logging.getLogger("onesp")
#: Seconds the liveness probe (``true`` over ssh) may take before the host counts as not answering.
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Attachment:
    """One object attached to the fenced client, as AttachmentsList reports it."""

    name: str
    snapshot: bool
    rights: str
    global_id: str

    @property
    def ref(self) -> str:
        """``~<globalId>``: stays valid if the object is renamed between the listing and the detach."""
        return "~" + self.global_id if self.global_id else self.name

    @property
    def kind(self) -> str:
        return "snapshot" if self.snapshot else "volume"


@dataclass(frozen=True)
class Outcome:
    """What a fence run found and did."""

    host: str
    client: int
    answered: bool
    probe: str  # how the probe went, one line
    storpool_status: str  # the client's status in ServicesList: running, down, not registered, unknown
    found: Tuple[Attachment, ...]
    detached: Tuple[Attachment, ...]
    dry_run: bool

    def summary(self) -> str:
        volumes = sum(1 for a in self.detached if not a.snapshot)
        snapshots = len(self.detached) - volumes
        head = "host %s (StorPool client %d, %s in StorPool; %s)" % (self.host, self.client, self.storpool_status,
                                                                    self.probe)
        if not self.found:
            return "%s: nothing attached, nothing to do" % head
        if self.dry_run:
            return "%s: would detach %d volumes and %d snapshots (dry run)" % (
                head, sum(1 for a in self.found if not a.snapshot), sum(1 for a in self.found if a.snapshot))
        return "%s: fenced, detached %d volumes and %d snapshots" % (head, volumes, snapshots)


def host_from_document(data: bytes) -> Tuple[str, Optional[int]]:
    """(name, SP_OURID or None) of the host document ``fence_host.sh`` gets on stdin (base64 XML)."""
    from ..one import Host
    from ..one.xmlsafe import decode_base64, looks_like_xml, parse_xml

    if not data.strip():
        raise BadInput("no host document on stdin (fence_host.sh passes the base64 HOST document)")
    if not looks_like_xml(data):
        data = decode_base64(data, what="host document")
    host = Host.from_xml(parse_xml(data, what="host document", root="HOST"))
    return host.name, host.sp_ourid


def probe(run: Callable[[], object]) -> Tuple[bool, str]:
    """(answers, how): ``run`` executes ``true`` on the host; any failure means it does not answer."""
    try:
        run()
    except HostError as exc:
        return False, "ssh: no answer (%s)" % exc
    return True, "ssh: answers"


def storpool_status(sp: StorPool, client: int) -> str:
    """The client's status in ServicesList (information only: it never stops a fence)."""
    try:
        clients = (sp.services() or {}).get("clients") or {}
    except OnespError as exc:
        LOG.warning("fence: ServicesList failed, client status unknown: %s", exc)
        return "status unknown"
    entry = clients.get(str(client))
    if not isinstance(entry, dict):
        return "not registered"
    return str(entry.get("status") or "status unknown")


def attached_to(sp: StorPool, client: int) -> List[Attachment]:
    """Every volume and snapshot attached to ``client`` (one AttachmentsList)."""
    found = []
    for item in sp.attachments():
        try:
            holder = int(item["client"])
        except (KeyError, TypeError, ValueError):
            continue
        if holder == client:
            found.append(Attachment(str(item.get("volume")), bool(item.get("snapshot")), str(item.get("rights") or ""),
                                    str(item.get("globalId") or "")))
    return found


def detach_all(sp: StorPool, client: int, found: List[Attachment]) -> List[Attachment]:
    """Force-detach ``found`` from ``client`` in one VolumesReassignWait; returns what was detached.

    An object deleted after the listing makes StorPool refuse the whole request
    (objectDoesNotExist): then each object is detached on its own and the missing ones skipped.
    """
    items = [{a.kind: a.ref, "detach": [client], "force": True} for a in found]
    try:
        sp.reassign(items)
        return list(found)
    except ApiNotFound:
        pass
    done = []
    for attachment, item in zip(found, items):
        try:
            sp.reassign([item])
            done.append(attachment)
        except ApiNotFound:
            LOG.info("fence: %s %s is gone, nothing to detach", attachment.kind, attachment.name)
    return done


def fence(host: str, client: int, sp: StorPool, run_probe: Callable[[], object], *, force: bool = False,
          dry_run: bool = False) -> Outcome:
    """Fence ``host`` (StorPool client ``client``): refuse it while it answers unless ``force``."""
    answered, how = probe(run_probe)
    LOG.info("fence %s: client %d, %s", host, client, how)
    if answered and not force:
        raise Busy("host %s still answers over ssh: a live host is not fenced (use --force if its VMs must lose "
                   "their disks anyway)" % host)
    status = storpool_status(sp, client)
    found = attached_to(sp, client)
    LOG.info("fence %s: client %d is %s in StorPool, %d objects attached", host, client, status, len(found))
    detached: List[Attachment] = []
    if found and not dry_run:
        detached = detach_all(sp, client, found)
        for attachment in detached:
            LOG.warning("fence %s: detached %s %s (%s) from client %d", host, attachment.kind, attachment.name,
                        attachment.rights, client)
    return Outcome(host, client, answered, how, status, tuple(found), tuple(detached), dry_run)


def check_hook(remotes: str) -> Tuple[str, str, str]:
    """(status, detail, fix) for ``onesp doctor``: does OpenNebula's fence_host.sh call ``onesp fence``?

    host_error.rb runs ``<remotes>/hooks/ft/fence_host.sh`` before it recreates a failed host's
    VMs; as shipped that script refuses to run (it exits 1 until an operator edits it).
    """
    path = os.path.join(remotes, "hooks", "ft", "fence_host.sh")
    fix = "make %s run 'onesp fence -' (docs/fencing.md) and register the host-error hook" % path
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(256 * 1024)
    except FileNotFoundError:
        return "warn", "%s does not exist: failed hosts are not fenced at the storage" % path, fix
    except OSError as exc:
        return "warn", "%s: cannot read it: %s" % (path, exc.strerror or exc), "run as root or oneadmin"
    calls = [line for line in text.splitlines() if "onesp fence" in line.split("#", 1)[0]]
    if calls:
        return "ok", "%s runs onesp fence" % path, ""
    return "warn", "%s does not run onesp fence: a failed host keeps its volumes attached while its VMs are " \
                   "recreated elsewhere" % path, fix


def resolve_client(host: str, document_id: Optional[int], lookup: Callable[[str], int]) -> int:
    """The client id: SP_OURID of the host document when it has one, else the usual lookup."""
    if document_id is not None and 1 <= int(document_id) <= 4095:
        return int(document_id)
    return lookup(host)


def as_dict(outcome: Outcome) -> Dict[str, Any]:
    return {
        "host": outcome.host, "client": outcome.client, "answered": outcome.answered, "probe": outcome.probe,
        "storpool_status": outcome.storpool_status, "dry_run": outcome.dry_run,
        "found": [{"kind": a.kind, "name": a.name, "rights": a.rights} for a in outcome.found],
        "detached": [{"kind": a.kind, "name": a.name, "rights": a.rights} for a in outcome.detached],
    }

"""Attachments: AttachmentsList, VolumesReassign and VolumesReassignWait.

Emulator choices:

* All items of a request are checked against a working copy of the attachments first
  (an object may appear in several items; they apply in order), then applied together.
* A client may appear in only one of ``rw``/``ro``/``detach`` of an item (``invalidParam``).
  Attaching to a client id that is not registered is ``invalidParam`` ("No such client
  registered"). Detaching a client that has no attachment succeeds.
* "Open" is modelled explicitly: a test hook (``POST /_sim/open``) marks an
  (object, client) device as held open, as a running VM would. Detaching an open device
  without ``force`` is ``busy``; a forced detach clears the mark. The emulator does not
  look at real file descriptors, because every client shares one device directory.
* ``VolumesReassignWait`` applies the change, then waits for clients that are registered
  but ``down`` (``POST /_sim/clients``): up to ``attachTimeout`` seconds, forever when
  absent, not at all when 0. If the wait expires the attachment stays recorded (StorPool
  has changed its configuration) and the call answers ``busy`` with ``transient: true``.
* Re-attaching with the same rights is a success without change; ``pos`` is the lowest
  free slot of the client (0..1023).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import apierror
from . import validate as v
from .model import SpObject
from .state import State

VOLUME_ITEM = ("volume", "rw", "ro", "detach", "force", "allowRemoteExported", "onRemoteAttached", "mcMode")
SNAPSHOT_ITEM = ("snapshot", "ro", "detach", "force")


def attachments_list(state: State, args: List[str], body: Any) -> List[Dict[str, Any]]:
    out = []
    for gid, clients in state.attachments.items():
        obj = state.objects[gid]
        for client, att in sorted(clients.items()):
            out.append({"volume": obj.display_name, "snapshot": not obj.is_volume, "client": client,
                        "rights": att.rights, "pos": att.pos, "globalId": gid})
    return out


def _item_object(state: State, item: Dict[str, Any]) -> Tuple[SpObject, Dict[str, Any]]:
    if not isinstance(item, dict):
        raise apierror.invalid("every reassign item must be an object")
    if ("volume" in item) == ("snapshot" in item):
        raise apierror.invalid("every reassign item needs exactly one of volume or snapshot")
    if "volume" in item:
        b = v.body_dict(item, "reassign item", VOLUME_ITEM)
        return state.volume(v.object_ref(b["volume"])), b
    b = v.body_dict(item, "reassign item", SNAPSHOT_ITEM)
    snap = state.snapshot(v.object_ref(b["snapshot"], "snapshot"))
    if snap.transient:
        raise apierror.invalid("snapshot %s is transient and cannot be attached" % snap.display_name)
    return snap, b


def plan(state: State, items: List[Any]) -> Tuple[Dict[str, Dict[int, str]], List[int]]:
    """The wanted attachments per changed object, and the clients attached to."""
    wanted: Dict[str, Dict[int, str]] = {}
    targets: List[int] = []
    for item in items:
        obj, b = _item_object(state, item)
        rw = v.client_list(b.get("rw", []), "rw")
        ro = v.client_list(b.get("ro", []), "ro")
        detach_all = b.get("detach", []) == "all"
        detach = [] if detach_all else v.client_list(b.get("detach", []), "detach")
        force = v.boolean(b.get("force", False), "force")
        if rw and not obj.is_volume:
            raise apierror.invalid("snapshot %s can only be attached read-only" % obj.display_name)
        listed = rw + ro + detach
        if len(set(listed)) != len(listed):
            raise apierror.invalid("a client may appear in only one of rw, ro and detach")
        for client in rw + ro:
            if client not in state.clients:
                raise apierror.invalid("No such client registered: %d" % client)
        current = wanted.setdefault(obj.gid, {c: a.rights for c, a in state.attachments.get(obj.gid, {}).items()})
        for client in list(current) if detach_all else detach:
            if client not in current:
                continue
            att = state.attachments.get(obj.gid, {}).get(client)
            if att is not None and att.open and not force:
                raise apierror.busy("'%s' is open at client %d" % (obj.display_name, client))
            del current[client]
        for client in rw:
            current[client] = "rw"
        for client in ro:
            current[client] = "ro"
        targets.extend(rw + ro)
    _check_slots(state, wanted)
    return wanted, targets


def _check_slots(state: State, wanted: Dict[str, Dict[int, str]]) -> None:
    delta: Dict[int, int] = {}
    for gid, clients in wanted.items():
        before = set(state.attachments.get(gid, {}))
        for client in set(clients) - before:
            delta[client] = delta.get(client, 0) + 1
        for client in before - set(clients):
            delta[client] = delta.get(client, 0) - 1
    for client, extra in delta.items():
        slots = state.slots.get(client)
        free = slots.available() if slots is not None else 1024
        if extra > free:
            raise apierror.invalid("client %d has no free attachment slot" % client)


def apply(state: State, wanted: Dict[str, Dict[int, str]]) -> None:
    """Set the planned attachments; a detached client's record (and open mark) goes with it."""
    for gid, clients in wanted.items():
        state.set_attachments(state.objects[gid], clients)


def reassign(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    if not isinstance(body, list):
        raise apierror.invalid("VolumesReassign expects a JSON array of items")
    wanted, _ = plan(state, body)
    apply(state, wanted)
    return {}


def reassign_wait(state: State, args: List[str], body: Any, defer: Callable[[Callable[[], None]], None]) -> Dict[str, Any]:
    """VolumesReassignWait; ``defer(fn)`` runs ``fn`` after the commit, outside the lock."""
    timeout: Optional[int] = None
    items: List[Any]  # the request's JSON items, checked one by one by plan()
    if isinstance(body, list):  # pve-storpool posts a bare array here
        items = body
    else:
        b = v.body_dict(body, "VolumesReassignWait", ("reassign", "attachTimeout"))
        reassign = b.get("reassign")
        if not isinstance(reassign, list):
            raise apierror.invalid("reassign must be a list of items")
        items = reassign
        if "attachTimeout" in b:
            timeout = v.integer(b["attachTimeout"], "attachTimeout", 0)
    wanted, targets = plan(state, items)
    apply(state, wanted)
    down = sorted({c for c in targets if state.clients.get(c) == "down"})
    if down and timeout != 0:
        defer(lambda: wait_for_clients(state, down, timeout))
    return {}


def wait_for_clients(state: State, clients: List[int], timeout: Optional[int]) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    with state.client_changed:
        while any(state.clients.get(c) == "down" for c in clients):
            if state.stopping:
                raise apierror.busy("the emulator is stopping", transient=True)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                names = ", ".join(str(c) for c in clients if state.clients.get(c) == "down")
                raise apierror.busy("client(s) %s did not confirm the attachment within %ss" % (names, timeout),
                                    transient=True)
            state.client_changed.wait(min(remaining, 0.5) if remaining is not None else 0.5)

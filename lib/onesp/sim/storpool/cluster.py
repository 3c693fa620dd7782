"""Cluster-level reads: services, clients and their configuration generation.

The emulated cluster has one active mgmt (id 1), three servers (ids 1-3) and the client
ids given at start (``--clients``). A client's status is ``running`` until a test marks it
``down`` through ``POST /_sim/clients`` (statuses are not persisted; every client is
running after a restart). ``ClientConfigWait`` answers at once: a running client is
always up to date, a down one is reported with ``configStatus: "down"``.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List

from . import apierror
from . import validate as v
from .state import State

VERSION = "21.0.0.emulated"
_START = int(time.time())


def _service(sid: int, status: str) -> Dict[str, Any]:
    # nodeId is limited to 0..63 in the bindings; larger client ids have no node id
    return {"id": sid, "nodeId": sid if sid <= 63 else None, "status": status,
            "version": VERSION, "startTime": _START}


def services_list(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    mgmt = dict(_service(1, "running"), active=True, prio=0)
    servers = {str(i): dict(_service(i, "running"), missingDisks=[], pendingDisks=[]) for i in (1, 2, 3)}
    clients = {str(c): _service(c, state.clients[c]) for c in sorted(state.clients)}
    return {"clusterStatus": "running", "mgmt": {"1": mgmt}, "servers": servers, "clients": clients,
            "bridges": {}, "iscsiTargets": {}}


def _config(state: State, client: int) -> Dict[str, Any]:
    up = state.clients[client] == "running"
    return {"id": client, "generation": state.generation,
            "clientGeneration": state.generation if up else 0,
            "configStatus": "ok" if up else "down", "delay": 0}


def clients_config_dump(state: State, args: List[str], body: Any) -> List[Dict[str, Any]]:
    return [_config(state, c) for c in sorted(state.clients)]


def client_config_wait(state: State, args: List[str], body: Any) -> List[Dict[str, Any]]:
    if not args[0].isdigit():
        raise apierror.invalid("invalid client id %r" % args[0])
    client = v.client_id(int(args[0]))
    if client not in state.clients:
        raise apierror.not_found("client %d is not registered" % client)
    return [_config(state, client)]

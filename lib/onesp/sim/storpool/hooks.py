"""The test hooks under ``/_sim/`` (same auth header and envelope as the API).

=========================  ======  ===================================================
path                       method  body / answer
=========================  ======  ===================================================
/_sim/faults               POST    {call, error="busy", descr?, transient=false, count=1,
                                   when="before"|"after", match?, status=500} -> rule
/_sim/faults               GET     list of active rules
/_sim/faults/clear         POST    remove every rule
/_sim/latency              POST    {call | "*", ms} (ms 0 removes)
/_sim/calls                GET     {calls: [{call, arg, method, status, error}], counts}
/_sim/calls/reset          POST    clear the call log
/_sim/state                GET     normalised dump (``?bytes=1`` adds content digests)
/_sim/reset                POST    wipe everything: objects, files, faults, log, clock,
                                   options (remote location stores are kept: they may
                                   be shared with a second emulator)
/_sim/clock                GET     {now, offset}
/_sim/clock                POST    {advance: seconds} -> {now, offset}; expiries run
/_sim/open                 POST    {object, client, open=true}: mark a device held open
/_sim/clients              POST    {client, status: "running"|"down"} (registers new ids)
/_sim/seed                 POST    see seed.py -> {volumes, snapshots, attachments}
/_sim/config               GET     current options
/_sim/config               POST    {gc_delay?, name_tags_limit?, max_provisioned?,
                                   disk_capacity?}
=========================  ======  ===================================================
"""

from __future__ import annotations

from typing import Any, Dict, Iterable

from . import apierror
from . import validate as v
from .dump import state_dump
from .faults import FaultBook
from .lifecycle import collect
from .seed import SEED_FIELDS, seed
from .state import State
from .switches import Options


class Hooks:
    def __init__(self, state: State, faults: FaultBook, clients: Iterable[int]) -> None:
        self.state = state
        self.faults = faults
        self.registered = sorted(int(c) for c in clients)

    def __call__(self, method: str, path: str, body: Any) -> Any:
        route, _, query = path.partition("?")
        handler = getattr(self, "_%s_%s" % (method.lower(), route[len("/_sim/"):].replace("/", "_")), None)
        if handler is None:
            raise apierror.SimApiError("invalidParam", "unknown hook %s %s" % (method, route), status=404)
        return handler(body, query)

    # ---- faults, latency, calls -----------------------------------------------------

    def _post_faults(self, body: Any, query: str) -> Any:
        return self.faults.add_fault(body)

    def _get_faults(self, body: Any, query: str) -> Any:
        return self.faults.faults()

    def _post_faults_clear(self, body: Any, query: str) -> Any:
        self.faults.clear_faults()
        return {"ok": True}

    def _post_latency(self, body: Any, query: str) -> Any:
        b = v.body_dict(body, "latency", ("call", "ms"))
        self.faults.set_latency(b.get("call"), b.get("ms", 0))
        return {"ok": True}

    def _get_calls(self, body: Any, query: str) -> Any:
        return self.faults.calls()

    def _post_calls_reset(self, body: Any, query: str) -> Any:
        self.faults.reset_calls()
        return {"ok": True}

    # ---- state -----------------------------------------------------------------------

    def _get_state(self, body: Any, query: str) -> Any:
        with self.state.lock:
            return state_dump(self.state, with_bytes="bytes=1" in query.split("&"))

    def _post_reset(self, body: Any, query: str) -> Any:
        state = self.state
        with state.lock:
            state.wipe()
            state.options = Options()
            for client in list(state.clients):
                if client not in self.registered:
                    del state.clients[client]
            for client in self.registered:
                state.set_client_status(client, "running")
        self.faults.reset()
        return {"ok": True}

    def _clock(self) -> Dict[str, Any]:
        return {"now": self.state.now(), "offset": self.state.meta["clockOffset"]}

    def _get_clock(self, body: Any, query: str) -> Any:
        return self._clock()

    def _post_clock(self, body: Any, query: str) -> Any:
        b = v.body_dict(body, "clock", ("advance",))
        seconds = b.get("advance", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise apierror.invalid("advance must be a non-negative number of seconds")
        state = self.state
        with state.lock:
            state.advance_clock(seconds)
            if collect(state):
                state.bump()
            state.commit()
            return self._clock()

    def _post_open(self, body: Any, query: str) -> Any:
        b = v.body_dict(body, "open", ("object", "client", "open"))
        client = v.client_id(b.get("client"))
        flag = v.boolean(b.get("open", True), "open")
        state = self.state
        with state.lock:
            ref = b.get("object")
            obj = state.find(ref) if isinstance(ref, str) else None
            att = state.attachments.get(obj.gid, {}).get(client) if obj is not None else None
            if obj is None or att is None:
                raise apierror.not_found("%s is not attached to client %d" % (b.get("object"), client))
            att.open = flag
            state.persist_attachments(obj.gid)
            state.commit()
        return {"ok": True}

    def _post_clients(self, body: Any, query: str) -> Any:
        b = v.body_dict(body, "clients", ("client", "status"))
        client = v.client_id(b.get("client"))
        status = b.get("status")
        if status not in ("running", "down"):
            raise apierror.invalid("status must be running or down")
        self.state.set_client_status(client, status)
        return {"ok": True}

    def _post_seed(self, body: Any, query: str) -> Any:
        b = v.body_dict(body, "seed", SEED_FIELDS)
        if "count" not in b:
            raise apierror.invalid("count is required")
        return seed(self.state, **b)

    # ---- options ---------------------------------------------------------------------

    def _get_config(self, body: Any, query: str) -> Any:
        return dict(vars(self.state.options))

    def _post_config(self, body: Any, query: str) -> Any:
        b = v.body_dict(body, "config", tuple(vars(Options())))
        options = self.state.options
        if "gc_delay" in b:
            options.gc_delay = v.integer(b["gc_delay"], "gc_delay", 0)
        if "name_tags_limit" in b:
            options.name_tags_limit = v.boolean(b["name_tags_limit"], "name_tags_limit")
        if "max_provisioned" in b:
            options.max_provisioned = v.integer(b["max_provisioned"], "max_provisioned", 0)
        elif isinstance(body, dict) and "max_provisioned" in body:
            options.max_provisioned = None  # null lifts the cap
        if "disk_capacity" in b:
            options.disk_capacity = v.integer(b["disk_capacity"], "disk_capacity", 0)
        return dict(vars(options))

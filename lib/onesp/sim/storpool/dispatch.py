"""One request in, one response out: auth, routing, faults, latency, the call itself, envelope.

Kept apart from the HTTP plumbing so the order of things is readable in one place:

1. ``Authorization: Storpool v1:<token>`` must match (else 401 ``authenticationFailed``);
2. ``/_sim/...`` goes to the test hooks, ``/ctrl/1.0/...`` to the API;
3. added latency is slept (outside the lock), then a ``before`` fault may answer;
4. under the state lock: due expiries are applied, the call runs, a mutating call bumps
   the generation once and the touched records are committed to SQLite; any error
   rolls the in-memory state back to the last commit;
5. deferred waits (VolumesReassignWait) run outside the lock; an ``after`` fault may
   then replace the success answer.

The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import sys
import traceback
from typing import Any, Callable, List, NamedTuple, Optional

from . import routes
from .apierror import SimApiError
from .faults import DROP_CONNECTION, FaultBook
from .lifecycle import collect
from .state import State
from .views import RawJson

_encode = json.JSONEncoder(separators=(",", ":")).encode


class Response(NamedTuple):
    status: int
    body: bytes
    drop: bool = False  # close the connection without answering


def envelope(generation: int, data: Any) -> bytes:
    payload = data.data if isinstance(data, RawJson) else _encode(data).encode()
    return b'{"generation":%d,"data":' % generation + payload + b"}"


def error_response(err: SimApiError) -> Response:
    return Response(err.status, _encode(err.to_json()).encode())


class Dispatcher:
    def __init__(self, state: State, faults: FaultBook, token: str, cluster_name: str,
                 hooks: Callable[[str, str, Any], Any], sleep: Callable[[float], None]) -> None:
        self.state = state
        self.faults = faults
        self._expected = ("Storpool v1:" + token).encode()
        self.cluster_name = cluster_name
        self.hooks = hooks
        self.sleep = sleep

    def authorised(self, header: Optional[str]) -> bool:
        return header is not None and hmac.compare_digest(header.encode(), self._expected)

    def handle(self, method: str, path: str, auth: Optional[str], raw_body: bytes) -> Response:
        if not self.authorised(auth):
            err = SimApiError("authenticationFailed", "missing or wrong Authorization header", status=401)
            return error_response(err)
        if path.startswith("/_sim/"):
            return self._hook(method, path, raw_body)
        try:
            call, args, json_query = routes.parse_path(path, self.cluster_name, self.state.meta["clusterId"])
        except SimApiError as err:
            self.faults.record(path.partition("?")[0], None, method, err.status, err.name)
            return error_response(err)
        names: List[str] = []
        try:
            routes.method_check(call, method)
            body = self._body(call, raw_body if method == "POST" else (json_query or "").encode())
            names = routes.object_names(call, args, body)
            response = self._call(call, args, body, names)
        except SimApiError as err:
            response = error_response(err)
            self.faults.record(call, ",".join(names) or None, method, err.status, err.name)
            return response
        if response.drop:
            self.faults.record(call, ",".join(names) or None, method, 0, DROP_CONNECTION)
        else:
            self.faults.record(call, ",".join(names) or None, method, response.status, None)
        return response

    @staticmethod
    def _body(call: str, raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise routes.invalid_json(call) from None

    def _fault(self, call: str, names: List[str], when: str) -> Optional[Response]:
        err = self.faults.take(call, names, when)
        if err is None:
            return None
        if err.name == DROP_CONNECTION:
            return Response(0, b"", drop=True)
        raise err

    def _call(self, call: str, args: List[str], body: Any, names: List[str]) -> Response:
        delay = self.faults.delay(call)
        if delay:
            self.sleep(delay)
        dropped = self._fault(call, names, "before")
        if dropped is not None:
            return dropped
        route = routes.ROUTES[call]
        deferred: List[Callable[[], None]] = []
        state = self.state
        with state.lock:
            if collect(state):
                state.bump()
                state.commit()
            try:
                if call in routes.DEFERRING:
                    data = route.handler(state, args, body, deferred.append)
                else:
                    data = route.handler(state, args, body)
                if route.mutating:
                    collect(state)
                    state.bump()
                    data = dict({"ok": True, "generation": state.generation}, **data)
                state.commit()
            except SimApiError:
                state.rollback()
                raise
            except Exception:
                state.rollback()
                traceback.print_exc(file=sys.stderr)
                raise SimApiError("internalError", "the emulator failed on %s (see its log)" % call) from None
            generation = state.generation
        for wait in deferred:
            wait()
        dropped = self._fault(call, names, "after")
        if dropped is not None:
            return dropped
        return Response(200, envelope(generation, data))

    def _hook(self, method: str, path: str, raw_body: bytes) -> Response:
        try:
            body = self._body(path, raw_body)
            data = self.hooks(method, path, body)
        except SimApiError as err:
            return error_response(err)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return error_response(SimApiError("internalError", "the emulator failed on %s" % path))
        return Response(200, envelope(self.state.generation, data))

"""``OnedSim``: an XML-RPC server answering the oned calls our drivers make.

It speaks oned's envelope: success ``[true, value, 0]``, failure
``[false, message, code, object id, 0]`` with oned's messages and codes,
XML-RPC faults for wrong signatures (as xmlrpc-c does), and it checks the
session string on every call. Besides the documents, it offers test hooks:
a call log and injected faults (dropped connections, HTTP errors, delays,
failure answers).
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ...runtime.errors import OnespError
from ..httpserver import SimHTTPServer
from .hookmessage import api_argument
from .pools import owner_matches, pool_document, select_ids, short_vm, vm_state_matches
from .store import KINDS, DocumentStore
from .templatetext import TemplateSyntaxError, apply_template

AUTHENTICATION = 0x0100
NO_EXISTS = 0x0400
XML_RPC_API = 0x1000
INTERNAL = 0x2000
FAULT_TYPE = -501  # xmlrpc-c: parameter type mismatch
FAULT_NO_METHOD = -506  # xmlrpc-c: no such method

_NOUN = {"vm": "virtual machine", "image": "image", "datastore": "datastore", "host": "host", "hook": "hook"}
_UPDATE_SECTION = {"vm": "USER_TEMPLATE", "image": "TEMPLATE", "datastore": "TEMPLATE"}
MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class CallLog:
    """Calls received, in order (method, parameters without the session), and counts per method."""

    calls: Tuple[Tuple[str, Tuple[Any, ...]], ...]
    counts: Dict[str, int]

    def count(self, method: str) -> int:
        return self.counts.get(method, 0)


@dataclass
class _Injection:
    method: Optional[str]
    remaining: int
    disconnect: bool = False
    http_status: Optional[int] = None
    delay: float = 0.0
    failure: Optional[Tuple[str, int]] = None


@dataclass
class _Signature:
    required: Tuple[type, ...]
    optional: Tuple[type, ...] = field(default_factory=tuple)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _OnedServer  # the server that made this handler (typed here for the attribute it adds)
    server_version = "onesp-oned-sim"

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        sim = self.server.sim
        if self.path not in ("/", "/RPC2"):
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_REQUEST_BYTES:
            self.send_error(400 if length <= 0 else 413)
            return
        try:
            params, method = xmlrpc.client.loads(self.rfile.read(length), use_builtin_types=True)
        except Exception:  # any malformed request body is the client's problem
            self.send_error(400, "malformed XML-RPC request")
            return
        injection = sim._received(method or "", list(params))
        if injection is not None:
            if injection.delay:
                time.sleep(injection.delay)
            if injection.disconnect:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if injection.http_status is not None:
                self.send_error(injection.http_status)
                return
        if injection is not None and injection.failure is not None:
            message, code = injection.failure
            body = _response([False, "[%s] %s" % (method, message), code, -1, 0])
        else:
            body = sim._dispatch(method or "", list(params))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the call log instead
        pass


def _response(value: Any) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=False).encode("utf-8")


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True).encode("utf-8")


class _OnedServer(SimHTTPServer):
    """The HTTP server of one ``OnedSim``, which its request handlers answer for."""

    def __init__(self, address: Tuple[str, int], sim: "OnedSim") -> None:
        super().__init__(address, _Handler)
        self.sim = sim


class OnedSim:
    """The oned stand-in over a folder of XML documents (``vm/``, ``image/``, ``datastore/``, ``host/``, ``hook/``)."""

    def __init__(self, state_dir: Union[str, Path], auth: str = "oneadmin:secret",
                 listen: Tuple[str, int] = ("127.0.0.1", 0), version: str = "7.0.2") -> None:
        if ":" not in auth:
            raise ValueError("auth must be user:password")
        self.state_dir = Path(state_dir)
        self.store = DocumentStore(self.state_dir)
        self.auth = auth
        self.listen = listen
        self.version = version
        self.auth_file = self.state_dir / "one_auth"
        self._server: Optional[SimHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._calls: List[Tuple[str, Tuple[Any, ...]]] = []
        self._injections: List[_Injection] = []
        self._answered: List[Tuple[str, Tuple[Any, ...], Any]] = []  # the last 100 calls, for api_argument
        self._methods: Dict[str, Tuple[_Signature, Callable[[str, List[Any]], Any]]] = self._method_table()

    # Life cycle ------------------------------------------------------------------
    def start(self) -> "OnedSim":
        if self._server is not None:
            return self
        fd = os.open(str(self.auth_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.auth + "\n")
        server = _OnedServer(self.listen, self)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="oned-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "OnedSim":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def address(self) -> Tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the oned stand-in is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def endpoint(self) -> str:
        host, port = self.address
        return "http://%s:%d/RPC2" % (host, port)

    @property
    def env(self) -> Dict[str, str]:
        """Environment for an action talking to this stand-in."""
        return {"ONE_XMLRPC": self.endpoint, "ONE_AUTH": str(self.auth_file)}

    # Documents ---------------------------------------------------------------------
    def put(self, kind: str, xml_text: Union[str, bytes]) -> int:
        """Add or replace a document (``kind``: vm, image, datastore, host, hook); returns its id."""
        return self.store.put(kind, xml_text)

    def get(self, kind: str, obj_id: int) -> Optional[str]:
        raw = self.store.read(kind, obj_id)
        return raw.decode("utf-8") if raw is not None else None

    def delete(self, kind: str, obj_id: int) -> bool:
        return self.store.delete(kind, obj_id)

    # Test hooks ------------------------------------------------------------------------
    def call_log(self) -> CallLog:
        with self._lock:
            calls = tuple(self._calls)
        counts: Dict[str, int] = {}
        for method, _ in calls:
            counts[method] = counts.get(method, 0) + 1
        return CallLog(calls, counts)

    def api_argument(self, method: str) -> str:
        """The ``$API`` argument oned would give an API hook on ``method`` for its latest call
        answered here (base64 of the ``<CALL_INFO>``, see ``hookmessage``)."""
        with self._lock:
            answered = list(self._answered)
        for name, params, answer in reversed(answered):
            if name == method:
                return api_argument(params, answer)
        raise LookupError("no %s call answered yet" % method)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def inject(self, method: Optional[str] = None, *, count: int = 1, disconnect: bool = False,
               http_status: Optional[int] = None, delay: float = 0.0,
               failure: Optional[Tuple[str, int]] = None) -> None:
        """Make the next ``count`` calls (of ``method``, or any) misbehave.

        ``disconnect`` drops the connection without an answer, ``http_status``
        answers with that HTTP error, ``delay`` waits first, ``failure``
        answers ``[false, "[method] message", code, -1, 0]``.
        """
        with self._lock:
            self._injections.append(_Injection(method, count, disconnect, http_status, delay, failure))

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def _received(self, method: str, params: List[Any]) -> Optional[_Injection]:
        with self._lock:
            self._calls.append((method, tuple(params[1:])))
            for injection in self._injections:
                if injection.remaining > 0 and injection.method in (None, method):
                    injection.remaining -= 1
                    return injection
        return None

    # Dispatch ------------------------------------------------------------------------
    def _dispatch(self, method: str, params: List[Any]) -> bytes:
        entry = self._methods.get(method)
        if entry is None:
            return _fault(FAULT_NO_METHOD, "Unknown method name '%s'" % method)
        signature, handler = entry
        problem = _check_signature(signature, params)
        if problem:
            return _fault(FAULT_TYPE, problem)
        if params[0] != self.auth:
            return _response([False, "[%s] User couldn't be authenticated, aborting call." % method,
                              AUTHENTICATION, -1, 0])
        try:
            answer = handler(method, params[1:])
        except OnespError as exc:
            answer = [False, "[%s] %s" % (method, exc), INTERNAL, -1, 0]
        with self._lock:
            self._answered = self._answered[-99:] + [(method, tuple(params), answer)]
        return _response(answer)

    def _method_table(self) -> Dict[str, Tuple[_Signature, Callable[[str, List[Any]], Any]]]:
        info = _Signature((int,), (bool,))
        table: Dict[str, Tuple[_Signature, Callable[[str, List[Any]], Any]]] = {}
        for kind in KINDS:
            table["one.%s.info" % kind] = (info, self._info_handler(kind))
        for kind in _UPDATE_SECTION:
            table["one.%s.update" % kind] = (_Signature((int, str, int)), self._update_handler(kind))
        table["one.vmpool.info"] = (_Signature((int, int, int, int)), self._vm_pool(extended=False))
        table["one.vmpool.infoextended"] = (_Signature((int, int, int, int), (str,)), self._vm_pool(extended=True))
        table["one.imagepool.info"] = (_Signature((int, int, int)), self._image_pool)
        table["one.datastorepool.info"] = (_Signature(()), self._simple_pool("datastore", "DATASTORE_POOL"))
        table["one.hostpool.info"] = (_Signature(()), self._simple_pool("host", "HOST_POOL"))
        table["one.hookpool.info"] = (_Signature((int, int, int)), self._simple_pool("hook", "HOOK_POOL"))
        table["one.system.version"] = (_Signature(()), lambda method, params: [True, self.version, 0])
        return table

    def _missing(self, method: str, kind: str, obj_id: int) -> List[Any]:
        return [False, "[%s] Error getting %s [%d]." % (method, _NOUN[kind], obj_id), NO_EXISTS, obj_id, 0]

    def _info_handler(self, kind: str) -> Callable[[str, List[Any]], Any]:
        def handler(method: str, params: List[Any]) -> Any:
            obj_id = params[0]
            raw = self.store.read(kind, obj_id)
            if raw is None:
                return self._missing(method, kind, obj_id)
            return [True, raw.decode("utf-8"), 0]
        return handler

    def _update_handler(self, kind: str) -> Callable[[str, List[Any]], Any]:
        def handler(method: str, params: List[Any]) -> Any:
            obj_id, text, update_type = params
            if update_type not in (0, 1):
                return [False, "[%s] Wrong update type %d." % (method, update_type), XML_RPC_API, obj_id, 0]
            with self.store.lock:
                element = self.store.element(kind, obj_id)
                if element is None:
                    return self._missing(method, kind, obj_id)
                section = element.find(_UPDATE_SECTION[kind])
                if section is None:
                    return [False, "[%s] %s has no %s." % (method, kind, _UPDATE_SECTION[kind]), INTERNAL, obj_id, 0]
                try:
                    apply_template(section, text, merge=update_type == 1)
                except TemplateSyntaxError as exc:
                    return [False, "[%s] Parse error: %s" % (method, exc), INTERNAL, obj_id, 0]
                self.store.write(kind, obj_id, element)
            return [True, obj_id, 0]
        return handler

    def _vm_pool(self, extended: bool) -> Callable[[str, List[Any]], Any]:
        def handler(method: str, params: List[Any]) -> Any:
            filter_flag, start, end, state = params[:4]
            members = []
            for vm_id in select_ids(self.store.ids("vm"), start, end):
                element = self.store.element("vm", vm_id)
                if element is None or not owner_matches(element, filter_flag):
                    continue
                if vm_state_matches(element, state):
                    members.append(element if extended else short_vm(element, self.version))
            return [True, pool_document("VM_POOL", members), 0]
        return handler

    def _image_pool(self, method: str, params: List[Any]) -> Any:
        filter_flag, start, end = params
        members = []
        for image_id in select_ids(self.store.ids("image"), start, end):
            element = self.store.element("image", image_id)
            if element is not None and owner_matches(element, filter_flag):
                members.append(element)
        return [True, pool_document("IMAGE_POOL", members), 0]

    def _simple_pool(self, kind: str, root: str) -> Callable[[str, List[Any]], Any]:
        def handler(method: str, params: List[Any]) -> Any:
            members = [self.store.element(kind, obj_id) for obj_id in self.store.ids(kind)]
            return [True, pool_document(root, [m for m in members if m is not None]), 0]
        return handler


def _check_signature(signature: _Signature, params: List[Any]) -> Optional[str]:
    if not params or not isinstance(params[0], str):
        return "Expected a session string as the first parameter"
    args = params[1:]
    if not len(signature.required) <= len(args) <= len(signature.required) + len(signature.optional):
        return "Expected %d parameters after the session, got %d" % (len(signature.required), len(args))
    for index, (value, expected) in enumerate(zip(args, signature.required + signature.optional), 2):
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            return "Parameter %d: expected integer, got %s" % (index, type(value).__name__)
        if expected is not int and not isinstance(value, expected):
            return "Parameter %d: expected %s, got %s" % (index, expected.__name__, type(value).__name__)
    return None

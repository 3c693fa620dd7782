"""The HTTP layer: a threading HTTP/1.0 server answering like StorPool's mgmt.

Each request gets its own thread and connection (``Connection: close``), as with the
real API. Headers follow the reference's example exchange. No request is logged unless
``verbose`` is set, and then only method, path and status (never a header).
"""

from __future__ import annotations

import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler
from typing import Any, Tuple, Union

from ..httpserver import SimHTTPServer
from .dispatch import Dispatcher


class ApiServer(SimHTTPServer):
    def __init__(self, address: Tuple[str, int], dispatcher: Dispatcher, verbose: bool = False) -> None:
        super().__init__(address, _Handler)
        self.dispatcher = dispatcher
        self.verbose = verbose


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer  # the server that made this handler (typed here for the attributes it adds)
    protocol_version = "HTTP/1.0"
    server_version = "StorPoolEmulator/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        response = self.server.dispatcher.handle(method, self.path, self.headers.get("Authorization"), body)
        if response.drop:
            # RST instead of an answer: the client sees ECONNRESET, as on a mgmt failover
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-control", "private")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write("storpool-sim: %s\n" % (fmt % args))

    def log_request(self, code: Union[int, str] = "-", size: Union[int, str] = "-") -> None:
        if self.server.verbose:
            path = self.path.partition("?")[0]
            sys.stderr.write("storpool-sim: %s %s %s\n" % (self.command, path, code))

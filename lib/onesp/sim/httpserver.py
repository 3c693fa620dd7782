"""The threading HTTP server both stand-ins run on."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class SimHTTPServer(ThreadingHTTPServer):
    """A client that goes away mid-answer (an action killed by SIGTERM, a timeout) is normal
    traffic for a stand-in, as it is for the real services: it is not printed as a traceback.
    Anything else still is."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

"""The XML-RPC transports of the oned client: a timeout on each connection, and expat joining
character data before handing it over.

A pool answer is one string holding an escaped XML document; unbuffered, expat reports every
``&lt;`` as a separate piece (a million callbacks for 1,000 VMs, five times the cost of the
rest of the decoding). This module imports ``xmlrpc.client``: ``rpc`` loads it on the first call.
"""

from __future__ import annotations

import http.client
import xmlrpc.client
from typing import Dict, Tuple, Union

#: What ``Transport.make_connection`` receives: "host[:port]", or with extra headers.
HostSpec = Union[str, Tuple[str, Dict[str, str]]]
Parser = Tuple[xmlrpc.client.ExpatParser, xmlrpc.client.Unmarshaller]


def _buffered(parser: Parser) -> Parser:
    expat = getattr(parser[0], "_parser", None)  # the pyexpat parser inside (private, hence looked up)
    if expat is not None:
        expat.buffer_text = True
        expat.buffer_size = 1 << 20
    return parser


class TimeoutTransport(xmlrpc.client.Transport):
    """``http://``: connections time out after ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host: HostSpec) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection

    def getparser(self) -> Parser:
        return _buffered(super().getparser())


class TimeoutSafeTransport(xmlrpc.client.SafeTransport):
    """``https://``: as ``TimeoutTransport``."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host: HostSpec) -> http.client.HTTPSConnection:
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection

    def getparser(self) -> Parser:
        return _buffered(super().getparser())


def server_proxy(endpoint: str, timeout: float) -> xmlrpc.client.ServerProxy:
    """A proxy for oned at ``endpoint`` whose connections time out after ``timeout`` seconds."""
    https = endpoint.lower().startswith("https:")
    transport = TimeoutSafeTransport(timeout) if https else TimeoutTransport(timeout)
    return xmlrpc.client.ServerProxy(endpoint, transport=transport, allow_none=False)

"""One http(s) download: a checked URL, optional basic auth, and a watch on the server's pace.

* The URL is checked before any connection: a bad port, an unclosed ``[`` or a missing host
  is bad input, said in one line.
* ``user:password@`` in the URL becomes an ``Authorization: Basic`` header that is not
  carried over a redirect (urllib would resend ordinary headers to whatever host a redirect
  names); messages and logs show URLs through ``shown()``, which has no user, password or query.
* A server that answers slowly is given up: each DOWNLOAD_TIMEOUT seconds must bring at least
  ``MIN_BYTES`` (or half of what LIMIT_TRANSFER_BW allows in that time, if less), counting from
  the connection on, so a server that drips the headers or the body byte by byte is dropped
  after DOWNLOAD_TIMEOUT seconds, not kept waiting on forever. A socket read alone cannot see
  this (each byte resets its timeout), so a watcher thread shuts the connection down.
"""

from __future__ import annotations

import base64
import socket
import threading
from types import TracebackType
from typing import Any, Dict, List, Optional, Tuple, Type
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from ...runtime.errors import BackendError, BadInput, ConfigError, NotFound, Transient

#: Bytes each DOWNLOAD_TIMEOUT seconds must bring (about 1 KiB/s over the default minute).
MIN_BYTES = 64 * 1024


def _parts(url: str, web: bool = True) -> Tuple[SplitResult, str]:
    """The split URL and its ``host[:port]``; BadInput (never showing the URL's password) if malformed,
    or (``web``) not http(s)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError as exc:  # its text may quote a part of the URL (a password): said in words of our own, from None
        reason = ("the port is not a number from 0 to 65535" if "port" in str(exc).lower() else
                  "a [ or ] around the host is unmatched" if "ipv6" in str(exc).lower() else "it cannot be parsed")
        raise BadInput("malformed URL %s: %s" % (_scheme_only(url), reason)) from None
    if web and parts.scheme.lower() not in ("http", "https"):
        raise BadInput("URL %s is not http(s)" % _scheme_only(url))
    if not host:
        raise BadInput("URL %s names no host" % _scheme_only(url))
    if ":" in host:
        host = "[%s]" % host
    return parts, host + (":%d" % port if port is not None else "")


def _scheme_only(url: str) -> str:
    scheme, _, _ = url.partition("://")
    return "%s://..." % scheme[:10]


def check_url(url: str) -> None:
    """Refuse a URL that cannot be downloaded as it is written (BadInput)."""
    _parts(url)


def shown(url: str) -> str:
    """A URL for messages and logs: no user:password, no query (it may carry a signature).

    Also for the URLs OpenNebula's downloader fetches (rsync://, s3://, ...)."""
    try:
        parts, host = _parts(url, web=False)
    except BadInput:
        return _scheme_only(url)
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _request_url(url: str) -> Tuple[str, Optional[str]]:
    """The URL without user:password, and the Authorization header they make (None without them)."""
    parts, host = _parts(url)
    if parts.username is None and parts.password is None:
        return url, None
    pair = "%s:%s" % (unquote(parts.username or ""), unquote(parts.password or ""))
    header = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, "")), header


class _Watch:
    """The watcher thread: every ``window`` seconds, less than ``floor`` new bytes ends the connection."""

    def __init__(self, window: float, floor: int) -> None:
        self.window = window
        self.floor = floor
        self.received = 0
        self.expired = False
        self.sockets: List[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="onesp-download-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def connection(self, *args: Any, **kwargs: Any) -> socket.socket:
        """socket.create_connection, remembering the socket so that it can be shut down."""
        sock = socket.create_connection(*args, **kwargs)
        self.sockets.append(sock.fileno())
        return sock

    def _run(self) -> None:
        seen = 0
        while not self._stop.wait(self.window):
            if self.received - seen < self.floor:
                self.expired = True
                for fd in self.sockets:  # wakes the blocked read in the main thread
                    try:
                        sock = socket.socket(fileno=fd)
                    except OSError:
                        continue
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    finally:
                        sock.detach()
                return
            seen = self.received


def _opener(watch: _Watch) -> Any:
    import http.client
    import urllib.request

    class Plain(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = watch.connection

    class Secure(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = watch.connection

    class PlainHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(Plain, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(Secure, req, context=getattr(self, "_context", None))

    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), PlainHandler(), SecureHandler(),
                    urllib.request.HTTPRedirectHandler(), urllib.request.HTTPErrorProcessor(),
                    urllib.request.HTTPDefaultErrorHandler()):
        opener.add_handler(handler)
    return opener


class Download:
    """An open http(s) response, read through ``read``; use as a context manager.

    ``length`` is the Content-Length (None if not told), ``status`` the HTTP status.
    """

    def __init__(self, url: str, timeout: float, headers: Optional[Dict[str, str]] = None,
                 rate_limit: Optional[int] = None) -> None:
        if not timeout > 0:
            raise ConfigError("DOWNLOAD_TIMEOUT is %g: give a number of seconds above 0" % timeout)
        self.url = url
        self.description = shown(url)
        self.timeout = timeout
        self.headers = dict({"User-Agent": "onesp", "Accept-Encoding": "identity"}, **(headers or {}))
        floor = MIN_BYTES if not rate_limit else min(MIN_BYTES, int(rate_limit * timeout) // 2)
        self.watch = _Watch(timeout, max(1, floor))
        self.response: Any = None
        self.length: Optional[int] = None
        self.status = 0
        self.response_headers: Any = None

    def __enter__(self) -> "Download":
        import http.client
        import urllib.error
        import urllib.request

        target, authorization = _request_url(self.url)
        request = urllib.request.Request(target, headers=self.headers)
        if authorization:
            request.add_unredirected_header("Authorization", authorization)
        self.watch.start()
        try:
            self.response = _opener(self.watch).open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            self._stop()
            message = "cannot download %s: HTTP %d %s" % (self.description, exc.code, exc.reason)
            if exc.code in (404, 410):
                raise NotFound(message) from exc
            if exc.code >= 500:
                raise Transient(message) from exc
            raise BackendError(message) from exc
        except urllib.error.URLError as exc:
            self._stop()
            self._given_up()
            raise Transient("cannot download %s: %s" % (self.description, exc.reason)) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._stop()
            self._given_up()
            raise Transient("cannot download %s: %s" % (self.description, exc or type(exc).__name__)) from exc
        except BaseException:
            self._stop()
            raise
        self.status = self.response.status
        self.response_headers = self.response.headers
        length = self.response.headers.get("Content-Length")
        self.length = int(length) if length and length.isdigit() else None
        return self

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end. A stalled or broken transfer raises Transient."""
        import http.client

        try:
            data: bytes = self.response.read(size)  # urllib types its responses as Any
        except (OSError, http.client.HTTPException) as exc:
            self._given_up()
            raise Transient("download of %s failed after %d bytes: %s"
                            % (self.description, self.watch.received, exc or type(exc).__name__)) from exc
        self._given_up()
        self.watch.received += len(data)
        return data

    @property
    def received(self) -> int:
        return self.watch.received

    def _given_up(self) -> None:
        if self.watch.expired:
            raise Transient("gave up on %s: less than %d bytes came in %g seconds (DOWNLOAD_TIMEOUT)"
                            % (self.description, self.watch.floor, self.timeout))

    def _stop(self) -> None:
        self.watch.stop()

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self._stop()
        if self.response is not None:
            self.response.close()

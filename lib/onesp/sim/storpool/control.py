"""``SimControl``: a small client for the emulator's ``/_sim/`` hooks and raw API calls.

Used by tests and benchmarks; stdlib only (``http.client``), one connection per request.

    ctl = SimControl.from_env(sim.env)
    ctl.inject_fault("VolumeDelete", error="busy", transient=True, count=2, when="after")
    ctl.inject_fault("VolumesReassignWait", error="busy", skip=1)   # the 2nd reassign fails
    ctl.set_latency("*", 5)
    ctl.counts()["VolumeCreate"]
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional


class SimControlError(Exception):
    """A hook answered with an error (``name``, ``descr``, HTTP ``status``)."""

    def __init__(self, status: int, name: str, descr: str) -> None:
        super().__init__("%s: %s (HTTP %d)" % (name, descr, status))
        self.status = status
        self.name = name
        self.descr = descr


@dataclass(frozen=True)
class RawResponse:
    """A raw API answer: HTTP status and the parsed JSON document."""

    status: int
    body: Dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200 and "error" not in self.body

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def error(self) -> Optional[Dict[str, Any]]:
        return self.body.get("error")


class SimControl:
    def __init__(self, host: str, port: int, token: str, timeout: float = 60.0) -> None:
        self.host = host
        self.port = int(port)
        self._auth = "Storpool v1:" + token
        self.timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SimControl":
        return cls(env["SP_API_HTTP_HOST"], int(env["SP_API_HTTP_PORT"]), env["SP_AUTH_TOKEN"])

    def request(self, method: str, path: str, body: Any = None) -> RawResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            payload = None if body is None else json.dumps(body)
            conn.request(method, path, payload, {"Authorization": self._auth})
            resp = conn.getresponse()
            return RawResponse(resp.status, json.loads(resp.read() or b"{}"))
        finally:
            conn.close()

    def api(self, method: str, call: str, body: Any = None) -> RawResponse:
        """A raw StorPool API call: ``api("POST", "VolumeDelete/x")``."""
        return self.request(method, "/ctrl/1.0/" + call, body)

    def _hook(self, method: str, path: str, body: Any = None) -> Any:
        """The ``data`` member of a hook's answer: a JSON document whose shape the hook defines
        (the typed methods below name it)."""
        resp = self.request(method, "/_sim/" + path, body)
        if not resp.ok:
            err = resp.error or {}
            raise SimControlError(resp.status, err.get("name", "?"), err.get("descr", ""))
        return resp.data

    # ---- faults and latency ----------------------------------------------------------

    def inject_fault(self, call: str, error: str = "busy", transient: bool = False, count: int = 1,
                     when: str = "before", match: Optional[str] = None, descr: Optional[str] = None,
                     status: int = 500, skip: int = 0) -> Dict[str, Any]:
        """Fail the next ``count`` calls of ``call`` (``-1`` = until cleared, ``"*"`` = any call).

        ``skip``: let that many matching calls pass first (for ``when="after"`` only calls
        that succeeded count), so the k-th of several calls of one name can be failed.
        """
        spec: Dict[str, Any] = {"call": call, "error": error, "transient": transient, "count": count,
                                "when": when, "status": status}
        if skip:
            spec["skip"] = skip
        if match is not None:
            spec["match"] = match
        if descr is not None:
            spec["descr"] = descr
        fault: Dict[str, Any] = self._hook("POST", "faults", spec)
        return fault

    def faults(self) -> List[Dict[str, Any]]:
        faults: List[Dict[str, Any]] = self._hook("GET", "faults")
        return faults

    def clear_faults(self) -> None:
        self._hook("POST", "faults/clear")

    def set_latency(self, call: str, ms: float) -> None:
        self._hook("POST", "latency", {"call": call, "ms": ms})

    # ---- call log --------------------------------------------------------------------

    def calls(self) -> List[Dict[str, Any]]:
        calls: List[Dict[str, Any]] = self._hook("GET", "calls")["calls"]
        return calls

    def counts(self) -> Dict[str, int]:
        counts: Dict[str, int] = self._hook("GET", "calls")["counts"]
        return counts

    def reset_calls(self) -> None:
        self._hook("POST", "calls/reset")

    # ---- state -----------------------------------------------------------------------

    def state(self, with_bytes: bool = False) -> Dict[str, Any]:
        state: Dict[str, Any] = self._hook("GET", "state?bytes=1" if with_bytes else "state")
        return state

    def reset(self) -> None:
        self._hook("POST", "reset")

    def advance_clock(self, seconds: float) -> int:
        """Move the emulator's clock forward; returns its new time. Due expiries run."""
        now: int = self._hook("POST", "clock", {"advance": seconds})["now"]
        return now

    def now(self) -> int:
        now: int = self._hook("GET", "clock")["now"]
        return now

    def set_open(self, obj: str, client: int, is_open: bool = True) -> None:
        """Mark ``obj``'s device on ``client`` as held open (detach needs force) or not."""
        self._hook("POST", "open", {"object": obj, "client": client, "open": is_open})

    def set_client(self, client: int, status: str) -> None:
        """``running`` or ``down`` (VolumesReassignWait then waits for it)."""
        self._hook("POST", "clients", {"client": client, "status": status})

    def seed(self, count: int, prefix: str = "seed-", start: int = 0, size: int = 1 << 30,
             template: Optional[str] = None, tags: Optional[Dict[str, str]] = None, snapshots: int = 0,
             attach: Iterable[int] = ()) -> Dict[str, int]:
        body: Dict[str, Any] = {"count": count, "prefix": prefix, "start": start, "size": size,
                                "snapshots": snapshots, "attach": list(attach)}
        if template is not None:
            body["template"] = template
        if tags:
            body["tags"] = dict(tags)
        seeded: Dict[str, int] = self._hook("POST", "seed", body)
        return seeded

    def config(self, **options: Any) -> Dict[str, Any]:
        """Read (no arguments) or change options: gc_delay, name_tags_limit, max_provisioned, disk_capacity."""
        config: Dict[str, Any] = self._hook("POST", "config", options) if options else self._hook("GET", "config")
        return config

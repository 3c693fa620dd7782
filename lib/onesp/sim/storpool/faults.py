"""Test hooks' bookkeeping: injected faults, added latency and the call log.

A fault rule makes the next ``count`` calls of one API call (optionally only those whose
argument matches) fail with a chosen error, either *before* the call has any effect or
*after* its effect is committed (the client then sees an error for something that did
happen). The error name ``connectionReset`` closes the connection without an answer
instead. Latency is added per call name, ``"*"`` for every call, before the call runs.

``skip`` (default 0) lets the first ``skip`` calls the rule would fire on pass untouched;
the rule fires from the next one on. This fails the k-th call of a sequence in which the
same call name repeats (an attach, then a detach: both ``VolumesReassignWait``). A rule
only examines the calls that reach its point: a ``before`` rule every matching call, an
``after`` rule only matching calls that succeeded (a call that failed had no effect whose
answer could be lost), so only those are skipped.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Deque, Dict, List, Optional

from .apierror import SimApiError, invalid

DROP_CONNECTION = "connectionReset"
LOG_LIMIT = 200_000


class FaultRule:
    def __init__(self, rid: int, spec: Dict[str, Any]) -> None:
        allowed = {"call", "error", "descr", "transient", "count", "when", "match", "status", "skip"}
        unknown = set(spec) - allowed
        if unknown:
            raise invalid("unknown fault field(s): %s" % ", ".join(sorted(unknown)))
        self.id = rid
        self.call = spec.get("call")
        if not isinstance(self.call, str) or not self.call:
            raise invalid("a fault needs the call name ('*' for any call)")
        self.error = spec.get("error", "busy")
        self.descr = spec.get("descr", "fault injected by the emulator")
        self.transient = bool(spec.get("transient", False))
        self.count = int(spec.get("count", 1))
        self.when = spec.get("when", "before")
        self.match = spec.get("match")
        self.status = int(spec.get("status", 500))
        skip = spec.get("skip", 0)
        if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
            raise invalid("skip must be a non-negative whole number")
        self.skip = skip
        if self.when not in ("before", "after"):
            raise invalid("when must be before or after")
        if self.count == 0 or self.count < -1:
            raise invalid("count must be positive, or -1 for every call")
        if not isinstance(self.error, str) or not self.error:
            raise invalid("error must be an error name")

    def applies(self, call: str, names: List[str], when: str) -> bool:
        return (self.call in ("*", call) and self.when == when
                and (self.match is None or self.match in names))

    def to_json(self) -> Dict[str, Any]:
        return {"id": self.id, "call": self.call, "error": self.error, "descr": self.descr,
                "transient": self.transient, "count": self.count, "when": self.when,
                "match": self.match, "status": self.status, "skip": self.skip}


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._rules: List[FaultRule] = []
            self._next_id = 1
            self._latency: Dict[str, float] = {}
            self._log: Deque[Dict[str, Any]] = collections.deque(maxlen=LOG_LIMIT)
            self._counts: Dict[str, int] = {}

    # ---- faults ----------------------------------------------------------------------

    def add_fault(self, spec: Any) -> Dict[str, Any]:
        if not isinstance(spec, dict):
            raise invalid("a fault is a JSON object")
        with self._lock:
            rule = FaultRule(self._next_id, spec)
            self._next_id += 1
            self._rules.append(rule)
            return rule.to_json()

    def faults(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [r.to_json() for r in self._rules]

    def clear_faults(self) -> None:
        with self._lock:
            self._rules = []

    def take(self, call: str, names: List[str], when: str) -> Optional[SimApiError]:
        """The error of the first rule that fires for this call now (and count it down).

        A rule still skipping lets this call pass (one fewer to skip) and the next rule is asked.
        """
        with self._lock:
            for rule in self._rules:
                if rule.applies(call, names, when):
                    if rule.skip > 0:
                        rule.skip -= 1
                        continue
                    if rule.count > 0:
                        rule.count -= 1
                        if rule.count == 0:
                            self._rules.remove(rule)
                    return SimApiError(rule.error, rule.descr, transient=rule.transient, status=rule.status)
        return None

    # ---- latency ---------------------------------------------------------------------

    def set_latency(self, call: object, ms: object) -> None:
        """``call`` and ``ms`` as the latency hook received them (JSON), checked here."""
        if not isinstance(call, str) or not call:
            raise invalid("latency needs a call name or '*'")
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms < 0:
            raise invalid("ms must be a non-negative number")
        with self._lock:
            if ms:
                self._latency[call] = float(ms)
            else:
                self._latency.pop(call, None)

    def delay(self, call: str) -> float:
        """Seconds to wait before serving ``call``."""
        with self._lock:
            return (self._latency.get(call, 0.0) + self._latency.get("*", 0.0)) / 1000.0

    # ---- call log --------------------------------------------------------------------

    def record(self, call: str, arg: Optional[str], method: str, status: int, error: Optional[str]) -> None:
        with self._lock:
            self._log.append({"call": call, "arg": arg, "method": method, "status": status, "error": error})
            self._counts[call] = self._counts.get(call, 0) + 1

    def calls(self) -> Dict[str, Any]:
        with self._lock:
            return {"calls": list(self._log), "counts": dict(self._counts)}

    def reset_calls(self) -> None:
        with self._lock:
            self._log.clear()
            self._counts = {}

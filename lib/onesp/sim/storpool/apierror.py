"""The one exception the emulator raises to answer a call with StorPool's error envelope.

StorPool answers every failed call with ``{"error": {"name", "descr", "transient"}}``.
No client branches on the HTTP status, so the emulator uses 500 for API errors, 401 for a
bad ``Authorization`` header and 404 for an unknown call path (see the reference, 1.3).
"""

from __future__ import annotations

from typing import Any, Dict


class SimApiError(Exception):
    """An API error as StorPool would return it (name, description, transient flag, HTTP status)."""

    def __init__(self, name: str, descr: str, *, transient: bool = False, status: int = 500) -> None:
        super().__init__("%s: %s" % (name, descr))
        self.name = name
        self.descr = descr
        self.transient = transient
        self.status = status

    def to_json(self) -> Dict[str, Any]:
        return {"error": {"name": self.name, "descr": self.descr, "transient": self.transient}}


def not_found(descr: str) -> SimApiError:
    return SimApiError("objectDoesNotExist", descr)


def exists(descr: str) -> SimApiError:
    return SimApiError("objectExists", descr)


def invalid(descr: str) -> SimApiError:
    return SimApiError("invalidParam", descr)


def busy(descr: str, *, transient: bool = False) -> SimApiError:
    return SimApiError("busy", descr, transient=transient)


def no_space(descr: str) -> SimApiError:
    return SimApiError("insufficientResources", descr)

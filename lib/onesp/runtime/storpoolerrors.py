"""StorPool API error answers as onesp errors: each error name StorPool sends has its class,
carrying the name, description and transient flag (``raise_for`` is the one translation)."""

from __future__ import annotations

from .errors import AlreadyExists, BackendError, BadInput, Busy, ConfigError, NotFound, OnespError, Transient


class ApiError(OnespError):
    """An error answer of the StorPool API."""

    kind = "storpool error"

    def __init__(self, call: str, name: str, descr: str, transient: bool = False, status: int = 0) -> None:
        super().__init__(descr or name, detail="%s: %s (%s)" % (call, name, "transient" if transient else "permanent"))
        self.call = call
        self.name = name
        self.descr = descr
        self.transient = transient
        self.status = status


class ApiNotFound(ApiError, NotFound):
    kind = NotFound.kind


class ApiExists(ApiError, AlreadyExists):
    kind = AlreadyExists.kind


class ApiBusy(ApiError, Busy):
    kind = Busy.kind


class ApiInvalid(ApiError, BadInput):
    kind = "invalid parameter"


class ApiNoSpace(ApiError, BackendError):
    kind = "insufficient resources"


class ApiAuthError(ApiError, ConfigError):
    kind = "StorPool refused the token"


class ApiTransient(ApiError, Transient):
    kind = Transient.kind


_BY_NAME = {
    "objectDoesNotExist": ApiNotFound,
    "objectExists": ApiExists,
    "busy": ApiBusy,
    "invalidParam": ApiInvalid,
    "insufficientResources": ApiNoSpace,
    "authenticationFailed": ApiAuthError,
}


def raise_for(call: str, status: int, payload: object) -> None:
    """Raise the error ``payload`` (an answer of ``call`` with HTTP ``status``) describes."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = {"name": "badResponse", "descr": "HTTP status %d without an error object" % status}
    name = str(error.get("name") or "<missing error name>")
    descr = str(error.get("descr") or name)
    transient = bool(error.get("transient", False))
    if status == 401 and name not in _BY_NAME:
        name = "authenticationFailed"
    cls = ApiTransient if transient else _BY_NAME.get(name, ApiError)
    raise cls(call, name, descr, transient, status)

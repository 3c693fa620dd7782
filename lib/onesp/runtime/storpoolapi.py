"""StorPool JSON API client on http.client and json.

One method per API call the actions use; errors are translated in one place
(``storpoolerrors.raise_for``) into onesp errors that carry the API's error name, description and
transient flag. Retries: only errors the API marks transient, and refused or
reset connections; a call is repeated after a reset only when it is a read,
because a write may already have taken effect.

The token lives in one private attribute; it is in no repr, message or log line.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import interrupts
from .errors import ConfigError
from .storpoolanswers import Attachment, ClientId, GroupMade, Made, Snapshot, Template, TemplateStatus, Volume
from .storpoolerrors import ApiNotFound, ApiTransient, raise_for

if TYPE_CHECKING:
    from types import ModuleType

    from .config import Config

#: Per-process count of API calls by call name (benchmarks and tests read it).
CALLS: "Counter[str]" = Counter()


class StorPool:
    """A connection description to one StorPool API; every call opens a fresh connection."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 3.0,
        retries: int = 5,
        observer: Optional[Callable[[str, str, Optional[str]], None]] = None,
    ) -> None:
        if not token:
            raise ConfigError(
                "SP_AUTH_TOKEN is not set (addon-storpoolrc, /etc/storpool.conf, environment or datastore attribute)"
            )
        self.host = host
        self.port = int(port)
        self.__token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.observer = observer
        self.generation = 0

    def __repr__(self) -> str:
        return "StorPool(%s:%d)" % (self.host, self.port)

    @property
    def endpoint(self) -> str:
        return "%s:%d" % (self.host, self.port)

    # -- transport --------------------------------------------------------------------------------
    def call(self, method: str, call: str, arg: Optional[str] = None, body: Any = None) -> Any:
        """Perform one API call and return its ``data``; raise an ApiError subclass on error answers."""
        path = "/ctrl/1.0/" + call + ("/" + arg if arg is not None else "")
        payload = None if body is None else json.dumps(_clear_none(body), separators=(",", ":")).encode()
        attempt = 0
        while True:
            CALLS[call] += 1
            if self.observer is not None:
                self.observer(method, call, arg)
            try:
                with interrupts.deferred():
                    status, answer = self._exchange(method, path, payload)
            except (ConnectionRefusedError, socket.timeout, ConnectionResetError, OSError, ValueError) as exc:
                refused = isinstance(exc, ConnectionRefusedError)
                if attempt < self.retries and (refused or method == "GET"):
                    attempt += 1
                    time.sleep(min(0.1 * 2**attempt, 2.0))
                    continue
                reason = getattr(exc, "strerror", None) or exc.__class__.__name__
                raise ApiTransient(call, "connectionFailed", "cannot reach the StorPool API at %s: %s" % (self.endpoint, reason),
                                   True) from exc
            if status == 200 and not (isinstance(answer, dict) and "error" in answer):
                if isinstance(answer, dict):
                    self.generation = answer.get("generation", self.generation)
                    return answer.get("data")
                return answer
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, dict) and error.get("transient") and attempt < self.retries:
                attempt += 1
                time.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            raise_for(call, status, answer)

    def _exchange(self, method: str, path: str, payload: Optional[bytes]) -> "tuple[int, Any]":
        import http.client  # imported on the first call: an action failing on bad input never pays for it

        try:
            return self._request(http.client, method, path, payload)
        except http.client.HTTPException as exc:
            raise ConnectionResetError(str(exc)) from exc

    def _request(self, http_client: ModuleType, method: str, path: str, payload: Optional[bytes]) -> "tuple[int, Any]":
        conn = http_client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(self.timeout)
            headers = {"Authorization": "Storpool v1:" + self.__token, "Connection": "close"}
            if payload is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                answer = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                descr = "StorPool API answered with non-JSON (HTTP %d)" % response.status
                answer = {"error": {"name": "badResponse", "descr": descr}}
                return (response.status if response.status != 200 else 502), answer
            return response.status, answer
        finally:
            conn.close()

    def _get(self, call: str, arg: Optional[str] = None) -> Any:  # the decoded JSON: typed by the caller
        return self.call("GET", call, arg)

    def _post(self, call: str, arg: Optional[str] = None, body: Optional[Mapping[str, object]] = None) -> Any:
        return self.call("POST", call, arg, {} if body is None else body)

    # -- volumes ------------------------------------------------------------------------------------
    def volume(self, name: str) -> Volume:
        """One volume's summary (raises ApiNotFound)."""
        found: List[Volume] = self._get("Volume", name)
        return found[0]

    def volume_or_none(self, name: str) -> Optional[Volume]:
        try:
            return self.volume(name)
        except ApiNotFound:
            return None

    def volume_info(self, name: str) -> Volume:
        info: Volume = self._get("VolumeGetInfo", name)
        return info

    def volumes(self) -> List[Volume]:
        """Every volume in the cluster: for monitoring and audit only, never per disk."""
        found: List[Volume] = self._get("VolumesList")
        return found

    def volumes_space(self) -> List[Volume]:
        found: List[Volume] = self._get("VolumesSpace")
        return found

    def volume_create(
        self,
        name: str,
        *,
        size: Optional[int] = None,
        template: Optional[str] = None,
        parent: Optional[str] = None,
        base_on: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        iops: Optional[Union[int, str]] = None,
        bw: Optional[Union[int, str]] = None,
        limit_type: Optional[str] = None,
    ) -> Made:
        body = {"name": name, "size": size, "template": template, "parent": parent, "baseOn": base_on,
                "tags": dict(tags) if tags else None, "iops": iops, "bw": bw, "limitType": limit_type}
        made: Made = self._post("VolumeCreate", None, body)
        return made

    def volume_update(
        self,
        name: str,
        *,
        size: Optional[int] = None,
        size_add: Optional[int] = None,
        shrink_ok: Optional[bool] = None,
        rename: Optional[str] = None,
        template: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        iops: Optional[Union[int, str]] = None,
        bw: Optional[Union[int, str]] = None,
        limit_type: Optional[str] = None,
    ) -> None:
        body = {"size": size, "sizeAdd": size_add, "shrinkOk": shrink_ok, "rename": rename, "template": template,
                "tags": dict(tags) if tags else None, "iops": iops, "bw": bw, "limitType": limit_type}
        self._post("VolumeUpdate", name, body)

    def volume_delete(self, name: str) -> None:
        self.call("POST", "VolumeDelete", name)

    def volume_freeze(self, name: str, delete_after: Optional[int] = None) -> None:
        self._post("VolumeFreeze", name, {"deleteAfter": delete_after})

    def volume_revert(self, name: str, to_snapshot: str) -> None:
        self._post("VolumeRevert", name, {"toSnapshot": to_snapshot})

    def volume_rebase(self, name: str, parent: Optional[str] = None) -> None:
        self._post("VolumeRebase", name, {"parentName": parent})

    def volume_backup(self, name: str, location: str, tags: Optional[Mapping[str, str]] = None) -> Made:
        made: Made = self._post("VolumeBackup", None, {"volume": name, "location": location,
                                                       "tags": dict(tags) if tags else None})
        return made

    def volume_from_remote(self, name: str, location: str, remote_id: str, template: Optional[str] = None,
                           tags: Optional[Mapping[str, str]] = None) -> Made:
        body = {"name": name, "remoteLocation": location, "remoteId": remote_id, "template": template,
                "tags": dict(tags) if tags else None}
        made: Made = self._post("VolumeFromRemote", None, body)
        return made

    def volumes_status(self) -> Dict[str, Dict[str, Any]]:
        """Each volume's status by name (JSON as StorPool answers it: onesp reads none of it per action)."""
        status: Dict[str, Dict[str, Any]] = self._get("VolumesGetStatus")
        return status

    # -- snapshots ---------------------------------------------------------------------------------
    def snapshot(self, name: str) -> Snapshot:
        found: List[Snapshot] = self._get("Snapshot", name)
        return found[0]

    def snapshot_or_none(self, name: str) -> Optional[Snapshot]:
        try:
            return self.snapshot(name)
        except ApiNotFound:
            return None

    def snapshots(self) -> List[Snapshot]:
        """Every snapshot in the cluster: for monitoring and audit only, never per disk."""
        found: List[Snapshot] = self._get("SnapshotsList")
        return found

    def snapshots_space(self) -> List[Snapshot]:
        found: List[Snapshot] = self._get("SnapshotsSpace")
        return found

    def volume_snapshot(
        self,
        volume: str,
        name: Optional[str] = None,
        *,
        tags: Optional[Mapping[str, str]] = None,
        bind: Optional[bool] = None,
        delete_after: Optional[int] = None,
    ) -> Made:
        body = {"name": name, "tags": dict(tags) if tags else None, "bind": bind, "deleteAfter": delete_after}
        made: Made = self._post("VolumeSnapshot", volume, body)
        return made

    def group_snapshot(self, pairs: Sequence["tuple[str, str]"], tags: Mapping[str, str]) -> GroupMade:
        """One crash-consistent snapshot of several volumes: ``pairs`` = (volume, snapshot name)."""
        body = {"volumes": [{"volume": v, "name": s} for v, s in pairs], "tags": dict(tags)}
        made: GroupMade = self._post("VolumesGroupSnapshot", None, body)
        return made

    def snapshot_update(
        self,
        name: str,
        *,
        rename: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        template: Optional[str] = None,
        bind: Optional[bool] = None,
        delete_after: Optional[int] = None,
    ) -> None:
        body = {"rename": rename, "tags": dict(tags) if tags else None, "template": template, "bind": bind,
                "deleteAfter": delete_after}
        self._post("SnapshotUpdate", name, body)

    def snapshot_delete(self, name: str) -> None:
        self.call("POST", "SnapshotDelete", name)

    # -- attachments --------------------------------------------------------------------------------
    def attachments(self) -> List[Attachment]:
        """Every attachment in the cluster: for monitoring, audit and migration checks only."""
        found: List[Attachment] = self._get("AttachmentsList")
        return found

    def reassign(self, items: Iterable[Mapping[str, Any]], attach_timeout: Optional[int] = None) -> None:
        """VolumesReassignWait with several attach/detach entries at once."""
        entries = [_clear_none(dict(i)) for i in items]
        self._post("VolumesReassignWait", None, {"reassign": entries, "attachTimeout": attach_timeout})

    def attach(self, name: str, client: ClientId, *, readonly: bool = False, snapshot: bool = False,
               timeout: Optional[int] = None) -> None:
        key = "snapshot" if snapshot else "volume"
        rights = "ro" if readonly or snapshot else "rw"
        self.reassign([{key: name, rights: [int(client)]}], attach_timeout=timeout)

    def detach(self, name: str, client: Union[ClientId, str] = "all", *, force: bool = False,
               snapshot: bool = False) -> None:
        """Detach from one client or from ``"all"``; a missing attachment is not an error."""
        key = "snapshot" if snapshot else "volume"
        target: Union[str, List[int]] = "all" if client == "all" else [int(client)]
        self.reassign([{key: name, "detach": target, "force": force}])

    # -- templates, services ------------------------------------------------------------------------
    def template(self, name: str) -> Template:
        found: Template = self._get("VolumeTemplateDescribe", name)
        return found

    def templates(self) -> List[Template]:
        found: List[Template] = self._get("VolumeTemplatesList")
        return found

    def templates_status(self) -> List[TemplateStatus]:
        found: List[TemplateStatus] = self._get("VolumeTemplatesStatus")
        return found

    def template_create(self, name: str, **policy: Any) -> None:
        body = {"name": name}
        body.update(policy)
        self._post("VolumeTemplateCreate", None, body)

    def template_update(self, name: str, **policy: Any) -> None:
        self._post("VolumeTemplateUpdate", name, policy)

    # Cluster-wide JSON that no per-disk action reads: kept as StorPool sends it (Any values).
    def services(self) -> Dict[str, Any]:
        found: Dict[str, Any] = self._get("ServicesList")
        return found

    def locations(self) -> List[Dict[str, Any]]:
        found: List[Dict[str, Any]] = (self._get("LocationsList") or {}).get("locations", [])
        return found


def _clear_none(value: Any) -> Any:
    """Drop None-valued keys, as StorPool's own bindings do, so defaults stay the server's."""
    if isinstance(value, dict):
        return {k: _clear_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clear_none(v) for v in value]
    return value


def from_config(cfg: Config, observer: Optional[Callable[[str, str, Optional[str]], None]] = None) -> StorPool:
    """A client for the endpoint in ``cfg`` (a resolved ``config.Config``)."""
    return StorPool(
        cfg.SP_API_HTTP_HOST,
        cfg.SP_API_HTTP_PORT,
        cfg.SP_AUTH_TOKEN,
        timeout=cfg.SP_API_TIMEOUT,
        connect_timeout=cfg.SP_API_CONNECT_TIMEOUT,
        retries=cfg.STORPOOL_RETRIES,
        observer=observer,
    )

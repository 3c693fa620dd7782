"""The table of API calls the emulator answers, and how a request path maps onto it.

Paths: ``/ctrl/1.0/[RemoteCommand/<cluster>/][MultiCluster/]<Call>[/<arg>...]``. The
emulated cluster is single, so ``MultiCluster/`` is the same as the plain path and
``RemoteCommand/`` is accepted only for the emulator's own cluster name or ``~<id>``.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from . import attachments, cluster, remote, templates
from . import snapshotcalls as snapshots
from . import volumecalls as volumes
from .apierror import SimApiError, invalid, not_found

PREFIX = "/ctrl/1.0/"


#: A call's handler: (state, path arguments, request JSON) -> the answer's ``data``; the
#: calls in DEFERRING take a fourth argument, ``defer(fn)``, hence the open signature.
Handler = Callable[..., Any]


class Route(NamedTuple):
    method: str
    handler: Handler
    nargs: int
    mutating: bool


def _get(handler: Handler, nargs: int = 0) -> Route:
    return Route("GET", handler, nargs, False)


def _post(handler: Handler, nargs: int = 0) -> Route:
    return Route("POST", handler, nargs, True)


ROUTES: Dict[str, Route] = {
    "VolumesList": _get(volumes.volumes_list),
    "Volume": _get(volumes.volume_one, 1),
    "VolumeDescribe": _get(volumes.volume_describe, 1),
    "VolumeGetInfo": _get(volumes.volume_info, 1),
    "VolumeListSnapshots": _get(volumes.volume_list_snapshots, 1),
    "VolumesGetStatus": _get(volumes.volumes_status),
    "VolumesGetStatusQuick": _get(volumes.volumes_status_quick),
    "VolumesSpace": _get(volumes.volumes_space),
    "VolumeCreate": _post(volumes.volume_create),
    "VolumeUpdate": _post(volumes.volume_update, 1),
    "VolumeDelete": _post(volumes.volume_delete, 1),
    "VolumeFreeze": _post(volumes.volume_freeze, 1),
    "VolumeRevert": _post(volumes.volume_revert, 1),
    "VolumeRebase": _post(volumes.volume_rebase, 1),
    "SnapshotsList": _get(snapshots.snapshots_list),
    "Snapshot": _get(snapshots.snapshot_one, 1),
    "SnapshotDescribe": _get(snapshots.snapshot_describe, 1),
    "SnapshotGetInfo": _get(snapshots.snapshot_info, 1),
    "SnapshotsSpace": _get(snapshots.snapshots_space),
    "VolumeSnapshot": _post(snapshots.volume_snapshot, 1),
    "VolumesGroupSnapshot": _post(snapshots.group_snapshot),
    "SnapshotUpdate": _post(snapshots.snapshot_update, 1),
    "SnapshotDelete": _post(snapshots.snapshot_delete, 1),
    "SnapshotDeleteById": _post(snapshots.snapshot_delete_by_id, 1),
    "SnapshotRebase": _post(snapshots.snapshot_rebase, 1),
    "AttachmentsList": _get(attachments.attachments_list),
    "VolumesReassign": _post(attachments.reassign),
    "VolumesReassignWait": _post(attachments.reassign_wait),
    "VolumeTemplatesList": _get(templates.templates_list),
    "VolumeTemplateDescribe": _get(templates.template_describe, 1),
    "VolumeTemplatesStatus": _get(templates.templates_status),
    "VolumeTemplateCreate": _post(templates.template_create),
    "VolumeTemplateUpdate": _post(templates.template_update, 1),
    "VolumeTemplateDelete": _post(templates.template_delete, 1),
    "PlacementGroupsList": _get(templates.pgs_list),
    "PlacementGroupDescribe": _get(templates.pg_describe, 1),
    "PlacementGroupUpdate": _post(templates.pg_update, 1),
    "PlacementGroupDelete": _post(templates.pg_delete, 1),
    "ServicesList": _get(cluster.services_list),
    "ClientsConfigDump": _get(cluster.clients_config_dump),
    "ClientConfigWait": _get(cluster.client_config_wait, 1),
    "LocationsList": _get(remote.locations_list),
    "VolumeBackup": _post(remote.volume_backup),
    "VolumesGroupBackup": _post(remote.volumes_group_backup),
    "SnapshotsRemoteList": _get(remote.snapshots_remote_list),
    "VolumeFromRemote": _post(remote.volume_from_remote),
    "SnapshotFromRemote": _post(remote.snapshot_from_remote),
}

#: The calls that wait after committing (they get a ``defer`` callback).
DEFERRING = frozenset(("VolumesReassignWait",))

#: Body fields naming the object of calls that carry no path argument.
_BODY_NAME = {"VolumeCreate": "name", "VolumeBackup": "volume", "VolumeFromRemote": "name",
              "SnapshotFromRemote": "name", "VolumeTemplateCreate": "name"}


def parse_path(path: str, cluster_name: str, cluster_id: str) -> Tuple[str, List[str], Optional[str]]:
    """(call, path arguments, raw ``json`` query) of an API path; raises on unknown paths."""
    path, _, query = path.partition("?")
    if not path.startswith(PREFIX):
        raise SimApiError("invalidParam", "unknown path %s" % path, status=404)
    parts = [urllib.parse.unquote(p) for p in path[len(PREFIX):].split("/")]
    if parts[:1] == ["RemoteCommand"]:
        if len(parts) < 3:
            raise SimApiError("invalidParam", "RemoteCommand needs a cluster and a call", status=404)
        if parts[1] not in (cluster_name, "~" + cluster_id):
            raise not_found("cluster %s is not known to this emulator" % parts[1])
        parts = parts[2:]
    if parts[:1] == ["MultiCluster"]:
        parts = parts[1:]
    if not parts or parts[0] not in ROUTES:
        raise SimApiError("invalidParam", "unknown API call %s" % "/".join(parts), status=404)
    call, args = parts[0], parts[1:]
    route = ROUTES[call]
    if len(args) != route.nargs or any(a == "" for a in args):
        raise SimApiError("invalidParam", "%s takes %d path argument(s)" % (call, route.nargs), status=404)
    json_query = urllib.parse.parse_qs(query).get("json", [None])[0] if query else None
    return call, args, json_query


def object_names(call: str, args: List[str], body: Any) -> List[str]:
    """The names a call is about, for the call log and fault matching."""
    if args:
        return [args[0]]
    if isinstance(body, dict) and call in _BODY_NAME:
        value = body.get(_BODY_NAME[call])
        return [value] if isinstance(value, str) else []
    if call in ("VolumesReassign", "VolumesReassignWait"):
        items = body if isinstance(body, list) else (body.get("reassign") if isinstance(body, dict) else None)
        entries = items if isinstance(items, list) else []
        names = [e.get("volume") or e.get("snapshot") for e in entries if isinstance(e, dict)]
        return [name for name in names if isinstance(name, str)]
    if call == "VolumesGroupSnapshot" and isinstance(body, dict):
        volumes = body.get("volumes")
        entries = volumes if isinstance(volumes, list) else []
        names = [e.get("volume") for e in entries if isinstance(e, dict)]
        return [name for name in names if isinstance(name, str)]
    if call == "VolumesGroupBackup" and isinstance(body, dict):
        return [n for n in body.get("volumes") or [] if isinstance(n, str)]
    return []


def method_check(call: str, method: str) -> None:
    expected = ROUTES[call].method
    if method != expected:
        raise SimApiError("invalidParam", "%s must be called with %s" % (call, expected), status=405)


def invalid_json(call: str) -> SimApiError:
    return invalid("%s: the request body is not valid JSON" % call)

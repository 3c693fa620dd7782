"""Remote locations and backups: LocationsList, VolumeBackup, VolumesGroupBackup,
SnapshotsRemoteList, VolumeFromRemote, SnapshotFromRemote.

A location is a named *store directory* holding one ``<remoteId>.json`` record and one
sparse ``<remoteId>.raw`` file per backup. By default the store is
``<data>/locations/<name>``; pointing two emulator instances at the same store directory
(``--location NAME=DIR``) lets the second one stand in for the remote cluster: what one
backs up, the other can restore with ``VolumeFromRemote``.

Emulator choices: ``VolumeBackup`` takes a *bound*, auto-named local snapshot of the
volume (so it disappears once the volume is gone, as nothing else needs it) and copies
its content to the store; the backup's ``remoteId`` is that snapshot's globalId (globalIds
are unique across clusters). A volume restored from a remote has no parent (the transfer
is complete when the call returns).
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import apierror
from . import validate as v
from .data import copy_file
from .lifecycle import take_snapshot
from .model import SpObject
from .state import State, base36
from .volumecalls import check_name_tags, drop_empty, new_volume

FROM_REMOTE_FIELDS = ("remoteLocation", "remoteId", "name", "template", "placeAll", "placeTail", "placeHead",
                      "replication", "export", "tags")


class Location:
    def __init__(self, name: str, store: Path) -> None:
        self.name = v.location_name(name)
        self.id = base36(zlib.crc32(name.encode()))
        self.store = store
        store.mkdir(parents=True, exist_ok=True)

    def record(self, remote_id: str) -> Dict[str, Any]:
        path = self.store / (v.global_id(remote_id) + ".json")
        try:
            record: Dict[str, Any] = json.loads(path.read_text())  # the JSON document save() wrote
            return record
        except FileNotFoundError:
            raise apierror.not_found("no backup %s at location %s" % (remote_id, self.name)) from None

    def records(self) -> List[Dict[str, Any]]:
        out = []
        for entry in sorted(os.scandir(self.store), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                out.append(json.loads(Path(entry.path).read_text()))
        return out

    def data(self, remote_id: str) -> Path:
        return self.store / (remote_id + ".raw")

    def save(self, record: Dict[str, Any]) -> None:
        path = self.store / (record["remoteId"] + ".json")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)


def _location(state: State, name: Any) -> Location:
    loc = state.locations.get(v.location_name(name))
    if loc is None:
        raise apierror.not_found("location %s does not exist" % name)
    return loc


def locations_list(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return {"locations": [{"id": loc.id, "name": loc.name, "sendBufferSize": 0, "recvBufferSize": 0}
                          for loc in state.locations.values()]}


def _backup(state: State, vol: SpObject, loc: Location, tags: Dict[str, str]) -> SpObject:
    snap = take_snapshot(state, vol, None, auto=True, tags=tags, bind=True)
    if not copy_file(state.files.path(snap.gid), loc.data(snap.gid), snap.size, readonly=False):
        try:
            os.unlink(loc.data(snap.gid))
        except FileNotFoundError:
            pass
    loc.save({"name": vol.display_name, "location": loc.name, "creationTimestamp": snap.created,
              "size": snap.size, "remoteId": snap.gid, "onVolume": vol.display_name, "tags": dict(tags),
              "createdFromGlobalId": vol.gid, "createdFromVisibleVolumeId": vol.vid})
    return snap


def volume_backup(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeBackup", ("volume", "location", "tags"))
    if "volume" not in b or "location" not in b:
        raise apierror.invalid("volume and location are required")
    vol = state.volume(v.object_ref(b["volume"]))
    loc = _location(state, b["location"])
    snap = _backup(state, vol, loc, drop_empty(v.tags(b.get("tags", {}))))
    return {"autoName": snap.name, "globalId": snap.gid, "remoteId": snap.gid}


def volumes_group_backup(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumesGroupBackup", ("location", "volumes", "tags"))
    loc = _location(state, b.get("location"))
    refs = b.get("volumes")
    if not isinstance(refs, list) or not refs:
        raise apierror.invalid("volumes must be a non-empty list")
    vols = [state.volume(v.object_ref(r)) for r in refs]
    tags = drop_empty(v.tags(b.get("tags", {})))
    backups = {}
    for vol in vols:
        snap = _backup(state, vol, loc, tags)
        backups[vol.display_name] = {"remoteId": snap.gid, "snapshotGlobalId": snap.gid}
    return {"backups": backups}


def snapshots_remote_list(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return {"snapshots": [r for loc in state.locations.values() for r in loc.records()]}


def _from_remote(state: State, body: Any, call: str, kind: str) -> Dict[str, Any]:
    b = v.body_dict(body, call, FROM_REMOTE_FIELDS)
    if "remoteLocation" not in b or "remoteId" not in b:
        raise apierror.invalid("remoteLocation and remoteId are required")
    loc = _location(state, b["remoteLocation"])
    record = loc.record(b["remoteId"])
    name: Optional[str] = b.get("name")
    if name is None and kind == "volume":
        raise apierror.invalid("name is required")
    if name is not None:
        state.check_free(v.volume_name(name))
    tpl = state.template(v.template_name(b["template"])) if "template" in b else None
    policy = v.policy({k: b[k] for k in ("placeAll", "placeTail", "placeHead", "replication") if k in b}, state.pg)
    tags = drop_empty(v.tags(b.get("tags", {})))
    check_name_tags(state, name, tags)
    obj = new_volume(state, name, record["size"], template=tpl, source=None, policy=policy, tags=tags)
    if kind == "snapshot":
        obj.kind = "snapshot"
        obj.backup_of = record["remoteId"]
        if name is None:
            obj.name = "%s@%d" % (record["name"].lstrip("~"), obj.vid)
            obj.auto_name = True
    copy_file(loc.data(record["remoteId"]), state.files.path(obj.gid), obj.size, readonly=kind == "snapshot")
    state.add(obj)
    return {"globalId": obj.gid}


def volume_from_remote(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return _from_remote(state, body, "VolumeFromRemote", "volume")


def snapshot_from_remote(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return _from_remote(state, body, "SnapshotFromRemote", "snapshot")

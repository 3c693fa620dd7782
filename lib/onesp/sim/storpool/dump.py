"""A normalised dump of the emulated cluster for tests (``GET /_sim/state``).

It leaves out what changes without meaning (generation, ids, timestamps, slot positions)
so that "the state equals the starting state" is a plain ``==``. Objects are keyed by
the name StorPool lists (``~<gid>`` for anonymous ones, ``*<name>`` while being deleted).
With ``with_bytes`` every volume and snapshot also carries a digest of its logical
content (holes and written zeros digest alike).
"""

from __future__ import annotations

from typing import Any, Dict

from .model import SpObject
from .state import State
from .templates import describe as template_json


def _object(state: State, obj: SpObject, with_bytes: bool) -> Dict[str, Any]:
    parent = state.objects.get(obj.parent) if obj.parent is not None else None
    out: Dict[str, Any] = {
        "globalId": obj.gid, "size": obj.size, "template": obj.template,
        "parent": parent.display_name if parent is not None else None, "tags": dict(obj.tags),
        "replication": obj.replication, "placeAll": obj.place_all, "placeTail": obj.place_tail,
        "placeHead": obj.place_head, "iops": obj.iops, "bw": obj.bw,
    }
    if not obj.is_volume:
        out.update(onVolume=state.on_volume(obj), autoName=obj.auto_name, bound=obj.bound,
                   deleted=obj.deleted, transient=obj.transient, targetDeleteDate=obj.delete_date)
    if with_bytes:
        out["digest"] = state.files.digest(obj.gid, obj.size)
    return out


def state_dump(state: State, with_bytes: bool = False) -> Dict[str, Any]:
    objects = state.objects
    attachments = []
    for gid, clients in state.attachments.items():
        for client, att in clients.items():
            attachments.append({"name": objects[gid].display_name, "snapshot": not objects[gid].is_volume,
                                "client": client, "rights": att.rights, "open": att.open})
    attachments.sort(key=lambda a: (a["name"], a["client"]))
    templates = {}
    for name, tpl in state.templates.items():
        data = template_json(tpl)
        del data["id"]
        templates[name] = data
    return {
        "volumes": {objects[g].display_name: _object(state, objects[g], with_bytes) for g in state.volumes},
        "snapshots": {objects[g].display_name: _object(state, objects[g], with_bytes) for g in state.snapshots},
        "attachments": attachments,
        "templates": templates,
        "placementGroups": {name: list(pg.disks) for name, pg in state.pgs.items()},
    }

"""Volume templates and placement groups.

Emulator choices: a template created without ``placeAll`` uses the ``default`` group;
``placeTail`` and ``placeHead`` default to ``placeAll``. ``propagate: true`` applies the
policy fields of that update (and only those) to every volume and snapshot using the
template. Renaming a template or a placement group renames every reference to it.
Deleting a template or group still in use is ``busy``. ``PlacementGroupUpdate`` creates
a missing group, as StorPool's does.
"""

from __future__ import annotations

from typing import Any, Dict, List

from . import apierror
from . import validate as v
from .model import PlacementGroup, Template
from .space import template_status
from .state import State

CREATE_FIELDS = ("name", "parent", "size", "tags") + v.POLICY_FIELDS
UPDATE_FIELDS = ("rename", "parent", "size", "propagate", "tags") + v.POLICY_FIELDS


def describe(tpl: Template) -> Dict[str, Any]:
    return {
        "id": tpl.id, "name": tpl.name, "parentName": tpl.parent, "placeAll": tpl.place_all,
        "placeTail": tpl.place_tail, "placeHead": tpl.place_head, "size": tpl.size,
        "replication": tpl.replication, "iops": tpl.iops, "bw": tpl.bw,
        "limitType": tpl.limit_type, "reuseServer": tpl.reuse_server,
    }


def templates_list(state: State, args: List[str], body: Any) -> List[Dict[str, Any]]:
    return [describe(t) for t in state.templates.values()]


def template_describe(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return describe(state.template(args[0]))


def templates_status(state: State, args: List[str], body: Any) -> List[Dict[str, Any]]:
    return template_status(state)


def _parent(state: State, value: Any) -> str:
    name = v.snapshot_name(value)
    state.snapshot(name)
    return name


def _apply(tpl: Template, b: Dict[str, Any], policy: Dict[str, Any]) -> None:
    attrs = {"placeAll": "place_all", "placeTail": "place_tail", "placeHead": "place_head",
             "replication": "replication", "iops": "iops", "bw": "bw", "limitType": "limit_type",
             "reuseServer": "reuse_server"}
    for key, attr in attrs.items():
        if key in policy:
            setattr(tpl, attr, policy[key])
    if "size" in b:
        tpl.size = v.size(b["size"])


def template_create(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeTemplateCreate", CREATE_FIELDS)
    if "name" not in b:
        raise apierror.invalid("name is required")
    name = v.template_name(b["name"])
    if name in state.templates:
        raise apierror.exists("template %s already exists" % name)
    policy = v.policy(b, state.pg)
    tpl = Template(state.next_id("nextTemplateId"), name)
    place_all = policy.get("placeAll", "default")
    policy.setdefault("placeTail", place_all)
    policy.setdefault("placeHead", place_all)
    parent = _parent(state, b["parent"]) if "parent" in b else ""
    tags = v.tags(b.get("tags", {}))
    _apply(tpl, b, policy)
    tpl.parent = parent
    tpl.tags = {k: val for k, val in tags.items() if val}
    state.put_template(tpl)
    return {}


def template_update(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeTemplateUpdate", UPDATE_FIELDS)
    tpl = state.template(args[0])
    old_name = tpl.name
    new_name = v.template_name(b["rename"]) if "rename" in b else old_name
    if new_name != old_name and new_name in state.templates:
        raise apierror.exists("template %s already exists" % new_name)
    policy = v.policy(b, state.pg)
    parent = _parent(state, b["parent"]) if "parent" in b else tpl.parent
    tags = dict(tpl.tags, **v.tags(b.get("tags", {})))
    propagate = v.boolean(b.get("propagate", False), "propagate")
    if "size" in b:
        v.size(b["size"])
    _apply(tpl, b, policy)
    tpl.parent = parent
    tpl.tags = {k: val for k, val in tags.items() if val}
    tpl.name = new_name
    state.put_template(tpl, old_name)
    for obj in list(state.objects.values()):
        if obj.template != old_name:
            continue
        obj.template = new_name
        if propagate:
            obj.apply_policy(policy)
        state.touch(obj)
    return {}


def template_delete(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    v.body_dict(body, "VolumeTemplateDelete", ())
    tpl = state.template(args[0])
    users = sum(1 for o in state.objects.values() if o.template == tpl.name)
    if users:
        raise apierror.busy("template %s is used by %d volume(s) or snapshot(s)" % (tpl.name, users))
    state.drop_template(tpl.name)
    return {}


# ---- placement groups ------------------------------------------------------------------

def _pg_json(pg: PlacementGroup) -> Dict[str, Any]:
    return {"id": pg.id, "name": pg.name, "disks": list(pg.disks)}


def pgs_list(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return {name: _pg_json(pg) for name, pg in state.pgs.items()}


def pg_describe(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return _pg_json(state.pgs[state.pg(v.pg_name(args[0]))])


def _disks(value: Any, what: str) -> List[int]:
    if not isinstance(value, list):
        raise apierror.invalid("%s must be a list of disk ids" % what)
    out = []
    for disk in value:
        if isinstance(disk, str) and disk.isdigit():
            disk = int(disk)
        if isinstance(disk, bool) or not isinstance(disk, int) or not 0 <= disk <= 4095:
            raise apierror.invalid("invalid disk id %r" % (disk,))
        out.append(disk)
    return out


def pg_update(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "PlacementGroupUpdate", ("rename", "addDisks", "rmDisks"))
    name = v.pg_name(args[0])
    add = _disks(b.get("addDisks", []), "addDisks")
    rm = _disks(b.get("rmDisks", []), "rmDisks")
    new_name = v.pg_name(b["rename"]) if "rename" in b else name
    if new_name != name and new_name in state.pgs:
        raise apierror.exists("placement group %s already exists" % new_name)
    pg = state.pgs.get(name) or PlacementGroup(state.next_id("nextPgId"), name)
    pg.disks = sorted((set(pg.disks) | set(add)) - set(rm))
    pg.name = new_name
    state.put_pg(pg, name if name in state.pgs else None)
    if new_name != name:
        _rename_pg_references(state, name, new_name)
    return {}


def _rename_pg_references(state: State, old: str, new: str) -> None:
    for tpl in state.templates.values():
        if old in (tpl.place_all, tpl.place_tail, tpl.place_head):
            for attr in ("place_all", "place_tail", "place_head"):
                if getattr(tpl, attr) == old:
                    setattr(tpl, attr, new)
            state.put_template(tpl)
    for obj in state.objects.values():
        if old in (obj.place_all, obj.place_tail, obj.place_head):
            for attr in ("place_all", "place_tail", "place_head"):
                if getattr(obj, attr) == old:
                    setattr(obj, attr, new)
            state.touch(obj)


def pg_delete(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    v.body_dict(body, "PlacementGroupDelete", ())
    name = state.pg(v.pg_name(args[0]))
    in_use = any(name in (t.place_all, t.place_tail, t.place_head) for t in state.templates.values()) or any(
        name in (o.place_all, o.place_tail, o.place_head) for o in state.objects.values())
    if in_use:
        raise apierror.busy("placement group %s is in use" % name)
    state.drop_pg(name)
    return {}

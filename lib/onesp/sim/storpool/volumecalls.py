"""Volume calls: create, update, delete, freeze, revert, rebase, and the volume listings.

Emulator choices (where the reference marks [I]):

* Policy of a new volume: explicit request value > template > the parent's or source's
  policy > defaults (placement ``default``, replication 3, no limits). Without
  ``template`` a clone keeps its source's template.
* Size of a new volume: explicit > the parent's/source's size > the template's default
  size; a size below the source's is ``invalidParam``.
* A tag sent with an empty value is not set on create and removed on update.
* ``VolumeUpdate`` validates every field before changing anything (all or nothing).
  Renaming an attached volume renames its device link; the by-id link stays.
* ``VolumeDelete`` of an attached volume is ``busy`` unless the body carries
  ``onAttached: "detach"`` (refused if a device is open) or ``"detachForce"``.
* ``VolumeFreeze`` and ``VolumeRevert`` are ``busy`` while the volume is attached.
  Revert accepts any snapshot (not only the volume's own); the volume takes the
  snapshot's size and content and the snapshot becomes its parent.
* ``VolumeRebase`` accepts only an ancestor (or no parent); else ``invalidParam``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import apierror
from . import validate as v
from .lifecycle import take_snapshot
from .model import SpObject, Template
from .state import State
from .views import RawJson, describe, info, listing, space_listing, status, summary, summary_bytes

CREATE_FIELDS = ("name", "size", "parent", "template", "baseOn", "tags") + v.POLICY_FIELDS
UPDATE_FIELDS = ("rename", "size", "sizeAdd", "shrinkOk", "template", "tags") + v.POLICY_FIELDS


def drop_empty(tags: Dict[str, str]) -> Dict[str, str]:
    return {k: val for k, val in tags.items() if val != ""}


def check_name_tags(state: State, name: Optional[str], tags: Dict[str, str]) -> None:
    if state.options.name_tags_limit:
        v.name_with_tags(name or "", tags)


def check_capacity(state: State, extra: int) -> None:
    cap = state.options.max_provisioned
    if cap is not None and extra > 0 and state.provisioned() + extra > cap:
        raise apierror.no_space("provisioning %d more bytes exceeds the cluster's limit of %d" % (extra, cap))


def new_volume(state: State, name: Optional[str], size: int, *, template: Optional[Template],
               source: Optional[SpObject], policy: Dict[str, Any], tags: Dict[str, str]) -> SpObject:
    """A volume record with its policy resolved (not yet added to the state)."""
    vid, gid = state.new_ids()
    vol = SpObject(gid, vid, "volume", name, size, state.now())
    if source is not None:
        vol.apply_policy(source.policy())
        vol.template = source.template if source.template in state.templates else ""
    if template is not None:
        vol.template = template.name
        vol.apply_policy(template.policy())
    vol.apply_policy(policy)
    vol.tags = tags
    return vol


def volume_create(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeCreate", CREATE_FIELDS)
    name = b.get("name")
    if name == "":
        name = None
    if name is not None:
        state.check_free(v.volume_name(name))
    tpl = state.template(v.template_name(b["template"])) if "template" in b else None
    policy = v.policy(b, state.pg)
    tags = drop_empty(v.tags(b.get("tags", {})))
    if tpl is not None:
        tags = dict(drop_empty(tpl.tags), **tags)
    if "parent" in b and "baseOn" in b:
        raise apierror.invalid("parent and baseOn are mutually exclusive")
    parent = base = None
    if "parent" in b:
        parent = _parent_snapshot(state, v.object_ref(b["parent"], "snapshot"))
    elif "baseOn" in b:
        base = state.volume(v.object_ref(b["baseOn"]))
    elif tpl is not None and tpl.parent:
        parent = _parent_snapshot(state, tpl.parent)
    source = parent or base
    if "size" in b:
        size = v.size(b["size"])
    elif source is not None:
        size = source.size
    elif tpl is not None and tpl.size != "-":
        size = int(tpl.size)
    else:
        raise apierror.invalid("size is required (no template default, parent or baseOn)")
    if source is not None and size < source.size:
        raise apierror.invalid("size %d is smaller than the source's %d" % (size, source.size))
    check_name_tags(state, name, tags)
    check_capacity(state, size)

    result: Dict[str, Any] = {}
    if base is not None:
        parent = take_snapshot(state, base, None, auto=True, transient=True)
        result["autoName"] = parent.name
    vol = new_volume(state, name, size, template=tpl, source=source, policy=policy, tags=tags)
    if parent is not None:
        vol.parent = parent.gid
        state.files.copy(parent.gid, vol.gid, size, readonly=False)
    state.add(vol)
    result["globalId"] = vol.gid
    if name is None:
        result["name"] = vol.display_name
    return result


def _parent_snapshot(state: State, ref: str) -> SpObject:
    snap = state.snapshot(ref, pending_ok=True)
    if snap.deleted or snap.transient:
        raise apierror.invalid("snapshot %s is being deleted or transient and cannot be a parent" % ref)
    return snap


def volume_update(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeUpdate", UPDATE_FIELDS)
    vol = state.volume(args[0])
    if "size" in b and "sizeAdd" in b:
        raise apierror.invalid("size and sizeAdd are mutually exclusive")
    new_size = vol.size
    if "size" in b:
        new_size = v.size(b["size"])
    elif "sizeAdd" in b:
        new_size = vol.size + v.size(b["sizeAdd"], "sizeAdd")
    if new_size < vol.size and not v.boolean(b.get("shrinkOk", False), "shrinkOk"):
        raise apierror.invalid("shrinking %s from %d to %d needs shrinkOk" % (vol.display_name, vol.size, new_size))
    new_name = vol.name
    if "rename" in b:
        new_name = v.volume_name(b["rename"])
        if new_name != vol.name:
            state.check_free(new_name)
    tpl = state.template(v.template_name(b["template"])) if "template" in b else None
    policy = v.policy(b, state.pg)
    tags = dict(vol.tags, **v.tags(b.get("tags", {})))
    tags = drop_empty(tags)
    check_name_tags(state, new_name, tags)
    check_capacity(state, new_size - vol.size)

    if tpl is not None:
        vol.template = tpl.name
        vol.apply_policy(tpl.policy())
    vol.apply_policy(policy)
    vol.tags = tags
    if new_size != vol.size:
        vol.size = new_size
        state.files.resize(vol.gid, new_size)
    state.touch(vol)
    if new_name != vol.name:
        state.rename(vol, new_name)
    return {}


def volume_delete(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeDelete", ("onAttached",))
    vol = state.volume(args[0])
    attached = state.attachments.get(vol.gid)
    if attached:
        mode = b.get("onAttached", "fail")
        if mode not in ("fail", "detach", "detachForce", "export"):
            raise apierror.invalid("onAttached must be fail, detach, detachForce or export")
        if mode in ("fail", "export"):
            clients = ", ".join(str(c) for c in sorted(attached))
            raise apierror.busy("volume %s is attached to client(s) %s" % (vol.display_name, clients))
        if mode == "detach":
            for client, att in sorted(attached.items()):
                if att.open:
                    raise apierror.busy("'%s' is open at client %d" % (vol.display_name, client))
        state.set_attachments(vol, {})
    state.remove(vol)
    return {}


def volume_freeze(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeFreeze", ("deleteAfter", "targetDeleteDate"))
    vol = state.volume(args[0])
    date = delete_date(state, b)
    if state.is_attached(vol):
        raise apierror.busy("volume %s is attached; detach it before freezing" % vol.display_name)
    state.freeze(vol)
    vol.delete_date = date
    state.touch(vol)
    return {}


def delete_date(state: State, b: Dict[str, Any]) -> int:
    """The ``targetDeleteDate`` a request asks for (0 = none)."""
    if "deleteAfter" in b and "targetDeleteDate" in b:
        raise apierror.invalid("deleteAfter and targetDeleteDate are mutually exclusive")
    if "deleteAfter" in b:
        after = v.integer(b["deleteAfter"], "deleteAfter", 0)
        return state.now() + after if after else 0
    if "targetDeleteDate" in b:
        date = v.integer(b["targetDeleteDate"], "targetDeleteDate", 0)
        if date and date < state.now():
            raise apierror.invalid("targetDeleteDate %d is in the past" % date)
        return date
    return 0


def volume_revert(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeRevert", ("toSnapshot",))
    vol = state.volume(args[0])
    if "toSnapshot" not in b:
        raise apierror.invalid("toSnapshot is required")
    snap = _parent_snapshot(state, v.object_ref(b["toSnapshot"], "snapshot"))
    if state.is_attached(vol):
        raise apierror.busy("volume %s is attached; detach it before reverting" % vol.display_name)
    state.files.copy(snap.gid, vol.gid, snap.size, readonly=False)
    vol.size = snap.size
    state.set_parent(vol, snap.gid)
    return {}


def rebase(state: State, obj: SpObject, body: Any, call: str) -> Dict[str, Any]:
    b = v.body_dict(body, call, ("parentName",))
    target = None
    if "parentName" in b:
        target = state.snapshot(v.object_ref(b["parentName"], "snapshot"))
        if target not in state.ancestors(obj):
            raise apierror.invalid("%s is not an ancestor of %s" % (target.display_name, obj.display_name))
    state.set_parent(obj, target.gid if target is not None else None)
    return {}


def volume_rebase(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return rebase(state, state.volume(args[0]), body, "VolumeRebase")


# ---- reads -----------------------------------------------------------------------------

def volumes_list(state: State, args: List[str], body: Any) -> RawJson:
    return RawJson(listing(state, state.volumes))


def volume_one(state: State, args: List[str], body: Any) -> RawJson:
    return RawJson(b"[" + summary_bytes(state, state.volume(args[0])) + b"]")


def volume_describe(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return describe(state, state.volume(args[0]))


def volume_info(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return info(state, state.volume(args[0]))


def volume_list_snapshots(state: State, args: List[str], body: Any) -> List[Dict[str, Any]]:
    return [summary(state, s) for s in state.ancestors(state.volume(args[0]))]


def volumes_space(state: State, args: List[str], body: Any) -> RawJson:
    return RawJson(space_listing(state, state.volumes))


def _status(state: State, quick: bool) -> Dict[str, Any]:
    state.ledger.settle()
    out = {}
    for gids in (state.volumes, state.snapshots):
        for gid in gids:
            obj = state.objects[gid]
            out[obj.display_name] = status(state, obj, quick)
    return out


def volumes_status(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return _status(state, quick=False)


def volumes_status_quick(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return _status(state, quick=True)

"""Snapshot calls: create (single and group), update, delete, rebase, and the listings.

Emulator choices: ``VolumeSnapshot`` without ``name`` auto-names the snapshot
``<volume>@<visibleVolumeId>``; ``name: ""`` makes an unnamed snapshot listed as
``~<globalId>``. ``VolumesGroupSnapshot`` validates every entry first and then takes all
snapshots in one call (one generation); per-entry tags override the common ones.
``SnapshotUpdate`` with ``bind: true`` on a childless, unattached snapshot deletes it at
once (that is what a bound snapshot is). Pending-delete snapshots (``*<name>``) can be
read (``Snapshot/*name``, ``~gid``) but not changed: mutating calls answer
``objectDoesNotExist``.
"""

from __future__ import annotations

from typing import Any, Dict, List

from . import apierror
from . import validate as v
from .lifecycle import delete_snapshot, take_snapshot
from .state import State
from .views import RawJson, describe, info, listing, space_listing, summary_bytes
from .volumecalls import check_name_tags, delete_date, drop_empty, rebase

SNAPSHOT_FIELDS = ("name", "tags", "bind", "deleteAfter", "targetDeleteDate")
UPDATE_FIELDS = ("rename", "template", "tags", "bind", "deleteAfter", "targetDeleteDate") + v.POLICY_FIELDS


def volume_snapshot(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumeSnapshot", SNAPSHOT_FIELDS)
    vol = state.volume(args[0])
    name = b.get("name")
    auto = name is None
    if name == "":
        name = None
    elif name is not None:
        state.check_free(v.volume_name(name))
    tags = drop_empty(v.tags(b.get("tags", {})))
    check_name_tags(state, name or vol.display_name + "@0", tags)
    bind = v.boolean(b.get("bind", False), "bind")
    date = delete_date(state, b)
    snap = take_snapshot(state, vol, name, auto=auto, tags=tags, bind=bind, delete_date=date)
    result: Dict[str, Any] = {"snapshotGlobalId": snap.gid, "snapshotVisibleVolumeId": snap.vid}
    if auto:
        result["autoName"] = snap.name
    return result


def group_snapshot(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "VolumesGroupSnapshot", ("volumes", "tags"))
    entries = b.get("volumes")
    if not isinstance(entries, list) or not entries:
        raise apierror.invalid("volumes must be a non-empty list")
    common = v.tags(b.get("tags", {}))
    plan = []
    seen_volumes, seen_names = set(), set()
    for entry in entries:
        e = v.body_dict(entry, "VolumesGroupSnapshot entry", ("volume", "name", "tags"))
        if "volume" not in e:
            raise apierror.invalid("every entry needs a volume")
        vol = state.volume(v.object_ref(e["volume"]))
        if vol.gid in seen_volumes:
            raise apierror.invalid("volume %s is listed twice" % vol.display_name)
        seen_volumes.add(vol.gid)
        name = e.get("name")
        if name is not None:
            v.snapshot_name(name)
            if name.startswith("*"):
                raise apierror.invalid("snapshot names may not start with *")
            state.check_free(name)
            if name in seen_names:
                raise apierror.exists("snapshot name %s is given twice" % name)
            seen_names.add(name)
        tags = drop_empty(dict(common, **v.tags(e.get("tags", {}))))
        check_name_tags(state, name or vol.display_name + "@0", tags)
        plan.append((vol, name, tags))
    results = []
    for vol, name, tags in plan:
        snap = take_snapshot(state, vol, name, auto=name is None, tags=tags)
        results.append({"volume": vol.display_name, "volumeGlobalId": vol.gid, "snapshot": snap.display_name,
                        "snapshotGlobalId": snap.gid, "remoteId": snap.gid})
    return {"snapshots": results}


def snapshot_update(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    b = v.body_dict(body, "SnapshotUpdate", UPDATE_FIELDS)
    snap = state.snapshot(args[0])
    new_name = snap.name
    if "rename" in b:
        new_name = v.volume_name(b["rename"])
        if new_name != snap.name:
            state.check_free(new_name)
    tpl = state.template(v.template_name(b["template"])) if "template" in b else None
    policy = v.policy(b, state.pg)
    tags = drop_empty(dict(snap.tags, **v.tags(b.get("tags", {}))))
    check_name_tags(state, new_name, tags)
    bind = v.boolean(b["bind"], "bind") if "bind" in b else snap.bound
    date = delete_date(state, b) if ("deleteAfter" in b or "targetDeleteDate" in b) else snap.delete_date

    if tpl is not None:
        snap.template = tpl.name
        snap.apply_policy(tpl.policy())
    snap.apply_policy(policy)
    snap.tags = tags
    snap.bound = bind
    snap.delete_date = date
    state.touch(snap)
    if new_name != snap.name:
        state.rename(snap, new_name)
    return {}


def snapshot_delete(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    v.body_dict(body, "SnapshotDelete", ())
    delete_snapshot(state, state.snapshot(args[0]))
    return {}


def snapshot_delete_by_id(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    v.body_dict(body, "SnapshotDeleteById", ())
    delete_snapshot(state, state.snapshot("~" + v.global_id(args[0])))
    return {}


def snapshot_rebase(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return rebase(state, state.snapshot(args[0]), body, "SnapshotRebase")


# ---- reads -----------------------------------------------------------------------------

def snapshots_list(state: State, args: List[str], body: Any) -> RawJson:
    return RawJson(listing(state, state.snapshots))


def snapshot_one(state: State, args: List[str], body: Any) -> RawJson:
    return RawJson(b"[" + summary_bytes(state, state.snapshot(args[0], pending_ok=True)) + b"]")


def snapshot_describe(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return describe(state, state.snapshot(args[0], pending_ok=True))


def snapshot_info(state: State, args: List[str], body: Any) -> Dict[str, Any]:
    return info(state, state.snapshot(args[0], pending_ok=True))


def snapshots_space(state: State, args: List[str], body: Any) -> RawJson:
    return RawJson(space_listing(state, state.snapshots))

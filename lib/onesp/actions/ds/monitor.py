"""ds monitor: USED_MB, TOTAL_MB and FREE_MB of an image datastore.

The numbers are those of its StorPool template ``<px>-ds-<id>`` in one VolumeTemplatesStatus
call, whatever the number of volumes: ``stored.capacity`` and ``stored.free`` are already
divided by the template's replication. With ALT_STATS, StorPool's internal reserve
(``internal.u2`` + ``u3``) counts as free, as in the addon. The addon read a cache file
refreshed hourly by a timer; this asks StorPool directly, so the numbers are current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...runtime.errors import BadInput, NotFound

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context

MIB = 1024 * 1024


def run(ctx: Context) -> str:
    ds_id, action = ctx.ds_action()
    if action.datastore.id != ds_id:
        raise BadInput("the driver action is for datastore %d, not %d" % (action.datastore.id, ds_id))
    template = ctx.names.template(ds_id)
    with ctx.step("read the space of template %s" % template):
        entry = next((t for t in ctx.sp.templates_status() if t.get("name") == template), None)
        if entry is None:
            raise NotFound("StorPool has no template %s for datastore %d" % (template, ds_id))
        stored = entry.get("stored") or {}
        total = int(stored.get("capacity") or 0)
        free = int(stored.get("free") or 0)
        if ctx.config.ALT_STATS:
            internal = stored.get("internal") or {}
            free += int(internal.get("u2") or 0) + int(internal.get("u3") or 0)
    used = max(total - free, 0)
    return "USED_MB=%d\nTOTAL_MB=%d\nFREE_MB=%d" % (used // MIB, total // MIB, free // MIB)

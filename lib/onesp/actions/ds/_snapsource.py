"""Images made from StorPool snapshots: ``SPSNAPSHOT:<name>`` and ``VM:<vm>-DISK:<disk>-VMSNAP:<id>``.

Who may do what, as in the addon, with its holes closed:

* ``SPSNAPSHOT:<name>`` names any snapshot, so only images of the oneadmin group (GID 0) may
  use it, and a snapshot carrying another OpenNebula instance's tags is refused.
* ``VM:..-VMSNAP:..`` names a VM snapshot of one disk; the snapshot's name is built from the
  VM document (its disk volume and the snapshot's HYPERVISOR_ID), never taken from the user,
  and unless the image is in the oneadmin group its owner must own the VM.

Both forms must match whole; the addon's substring test is not repeated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

from ...runtime import disks
from ...runtime.errors import BadInput, Forbidden
from ...runtime.naming import check_volume_name

if TYPE_CHECKING:
    from ...one import Image
    from ...runtime.actioncontext import Context
    from ...runtime.storpoolanswers import Snapshot

_SPSNAPSHOT = re.compile(r"SPSNAPSHOT:(?P<name>.+)\Z")
_VMSNAP = re.compile(r"VM:(?P<vm>\d{1,10})-DISK:(?P<disk>\d{1,10})-VMSNAP:(?P<snap>\d{1,10})\Z")
MIB = 1024 * 1024


def looks_like_snapshot(path: str) -> bool:
    return path.startswith("SPSNAPSHOT:") or path.startswith("VM:")


def snapshot_name(ctx: Context, path: str, image: Optional[Image]) -> str:
    """The StorPool snapshot ``path`` names, after the authorisation checks (``image`` None: stat)."""
    match = _SPSNAPSHOT.match(path)
    if match:
        if image is not None and image.gid != 0:
            raise Forbidden("only images of the oneadmin group may be made from SPSNAPSHOT:, image %d is in group %d"
                           % (image.id, image.gid))
        return _checked(match.group("name"))
    match = _VMSNAP.match(path)
    if not match:
        raise BadInput("invalid snapshot source %r: expected SPSNAPSHOT:<name> or VM:<vm>-DISK:<disk>-VMSNAP:<id>"
                       % path[:80])
    vm_id, disk_id, snap_id = (int(match.group(k)) for k in ("vm", "disk", "snap"))
    with ctx.step("find snapshot %d of VM %d" % (snap_id, vm_id)):
        vm = ctx.one.vm(vm_id)
        if image is not None and image.gid != 0 and image.uid != vm.uid:
            raise Forbidden("image %d belongs to user %d, who does not own VM %d" % (image.id, image.uid, vm_id))
        hypervisor_id = vm.vm_snapshot(snap_id).hypervisor_id
        if not hypervisor_id:
            raise BadInput("snapshot %d of VM %d has no HYPERVISOR_ID" % (snap_id, vm_id))
        number, timestamp = ctx.names.parse_vm_snapshot_id(hypervisor_id)
        if disk_id == vm.context_disk_id:
            context = disks.context_volume(ctx.names, vm)
            volume = context.name if context is not None else ""
        else:
            volume = disks.disk_volume(ctx.names, vm.id, vm.disk(disk_id)).name
        return ctx.names.vm_snapshot(volume, number, timestamp)


def describe(ctx: Context, name: str) -> Snapshot:
    """The snapshot's summary; refused when it carries another OpenNebula instance's tags."""
    with ctx.step("look up snapshot %s" % name):
        snapshot = ctx.sp.snapshot(name)
        tags = snapshot.get("tags") or {}
        if ctx.tags.is_other_instance(tags):
            raise Forbidden("snapshot %s belongs to another OpenNebula instance (%s=%s)"
                           % (name, ctx.tags.loc_key, tags.get(ctx.tags.loc_key)))
    return snapshot


def size_mb(snapshot: Snapshot) -> int:
    return -(-snapshot["size"] // MIB)


def _checked(name: str) -> str:
    try:
        return check_volume_name(name)
    except BadInput as exc:
        raise BadInput("invalid StorPool snapshot name %r in SPSNAPSHOT:" % name[:80]) from exc

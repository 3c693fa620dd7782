"""tm monitor: capacity of a StorPool system datastore, and the sizes of its VMs' disks.

Run by the DS MAD for system datastores (``monitor <ds id>``, or ``monitor <base64> <ds
id>``, with DS_DRIVER_ACTION_DATA on stdin or in argv). stdout: ``USED_MB``,
``TOTAL_MB``, ``FREE_MB`` of the datastore's StorPool template ``<px>-ds-<id>``.

When oned asks for VM disks (``MONITOR_VM_DISKS``), each VM on this datastore gets its
``DISK_SIZE`` and ``SNAPSHOT_SIZE`` (and with MONITOR_VMSNAPSHOTS its ``VMSNAPSHOT``
sizes), sent to monitord as ``MONITOR_VM`` messages over UDP the way OpenNebula's own
drivers do, to the address in monitord.conf. Cost: VolumeTemplatesStatus, VolumesSpace,
SnapshotsSpace and one VM pool read — the same four calls for 2 VMs or 20,000 (two when no VM
is on the datastore).
"""

from __future__ import annotations

import socket
from typing import List

from ...runtime.actioncontext import Context
from ...runtime.configfiles import monitord_conf
from . import _monitoring as monitoring


def run(ctx: Context) -> str:
    ds_id, action = ctx.ds_action()
    datastore = action.datastore
    template = ctx.names.template(datastore.id)
    with ctx.step("read the capacity of StorPool template %s" % template):
        result = monitoring.capacity(ctx.sp.templates_status(), template, ctx.config.ALT_STATS)
    if action.monitor_vm_disks:
        send(ctx, collect(ctx, datastore.id))
    return result.lines()


def collect(ctx: Context, ds_id: int) -> List[str]:
    """The ``VM=[...]`` lines of every VM on datastore ``ds_id``.

    The VM pool is read first: the two space answers list the whole cluster, and only the
    entries of the volumes its VMs' disks name are kept (no VM here: neither is read)."""
    stored = ctx.config.SP_SPACE_USED_LVMWAY
    with ctx.step("read the VM pool"):
        vms = monitoring.on_datastore(ctx.one.vm_pool(filter=-2, state=-1), ds_id)
    owner = monitoring.owners(ctx.names, vms)
    vm_ids = [int(vm.id) for vm in vms]
    del vms
    ctx.one.forget()  # the pool's documents are freed before the space answers are parsed, not kept beside them
    found: List[monitoring.VmReport] = []
    if owner:
        with ctx.step("read the space used by StorPool volumes"):
            volume_sizes = monitoring.sizes_of(ctx.sp.volumes_space(), owner, stored)
        with ctx.step("read the space used by StorPool snapshots"):
            snapshots = monitoring.snapshot_sizes(ctx.names, ctx.sp.snapshots_space(), owner, stored,
                                                  ctx.config.MONITOR_VMSNAPSHOTS)
        found = monitoring.reports(vm_ids, owner, volume_sizes, snapshots)
    ctx.log.info("datastore %d: disk sizes of %d VMs", ds_id, len(found))
    return [report.line() for report in found]


def send(ctx: Context, lines: List[str]) -> None:
    """Hand the VM lines to monitord; a failure is logged, the capacity is still reported."""
    if not lines:
        return
    path = monitord_conf()
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        text = None
    address, port, pubkey = monitoring.monitord_address(text)
    if pubkey:
        ctx.log.warning("monitord.conf sets PUBKEY: encrypted monitoring is not supported, VM disk sizes not sent")
        return
    try:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for message in monitoring.messages(lines):
                sock.sendto(message.encode("ascii") + b"\n", (address, port))
    except OSError as exc:
        ctx.log.warning("could not send VM disk sizes to monitord at %s:%d: %s", address, port, exc)

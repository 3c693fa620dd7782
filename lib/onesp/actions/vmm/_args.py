"""The argument forms oned's VMM driver (``one_vmm_exec``) gives the StorPool VMM helpers.

Declared local with ``-l <action>=<script>`` in the VM_MAD arguments, a helper runs on the
front-end with the action's own parameters followed by the VM id and the host (the driver
appends both), and the base64 ``VMM_DRIVER_ACTION_DATA`` on stdin (6.8 - 7.x; empty where a
release passes no stdin to snapshot_create)::

    snapshot_create  <domain> <snapshot id> <vm id> <host>
    snapshot_delete  <domain> <hypervisor id> <vm id> <host>
    snapshot_revert  <domain> <hypervisor id> <vm id> <host>
    attach_disk      <domain> <disk path> <target> <target index> <base64 driver action> <vm id> <host>
    detach_disk      <domain> <disk path> <target> <target index> <vm id> <host>

The disk helpers also accept the forms without the trailing VM id and host (then both come
from the driver action), which is how a person replays them by hand. ``raw`` keeps the
arguments as received, because the stock kvm script is called with the same ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from ...runtime.arguments import parse_id
from ...runtime.errors import BadInput
from ...runtime.hostexec import check_host, check_path

_DOMAIN = re.compile(r"[A-Za-z0-9_.\-]{1,128}\Z")
_HYPERVISOR_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}\Z")
_TARGET = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_TARGET_INDEX = re.compile(r"-?\d{1,6}\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+\Z")


def domain_name(text: str) -> str:
    """A libvirt domain name as OpenNebula makes them (``one-<vm id>``), checked before it reaches a host."""
    if not isinstance(text, str) or not _DOMAIN.match(text):
        raise BadInput("invalid domain name %r" % (text,))
    return text


def hypervisor_id(text: str) -> str:
    if not isinstance(text, str) or not _HYPERVISOR_ID.match(text):
        raise BadInput("invalid VM snapshot id %r" % (text,))
    return text


@dataclass(frozen=True)
class SnapshotCreateArgs:
    """Arguments of snapshot_create: the id oned gives the new VM snapshot."""

    action: str
    domain: str
    vm_id: int
    host: str
    snap_id: int
    raw: Tuple[str, ...] = ()


@dataclass(frozen=True)
class SnapshotArgs:
    """Arguments of snapshot_delete/revert: the hypervisor id snapshot_create reported."""

    action: str
    domain: str
    vm_id: int
    host: str
    hypervisor_id: str
    raw: Tuple[str, ...] = ()


@dataclass(frozen=True)
class DiskArgs:
    """Arguments of attach_disk / detach_disk; ``vm_id`` and ``host`` are None in the short form."""

    action: str
    domain: str
    disk_path: str
    target: str
    target_index: str
    message: Optional[str]  # base64 driver action (attach_disk only)
    vm_id: Optional[int]
    host: Optional[str]
    raw: Tuple[str, ...] = ()


def snapshot_create_args(argv: Sequence[str]) -> SnapshotCreateArgs:
    domain, snapshot, vm, host = _four("snapshot_create", "snapshot id", argv)
    return SnapshotCreateArgs(
        action="snapshot_create",
        domain=domain_name(domain),
        vm_id=parse_id(vm, "VM id"),
        host=check_host(host),
        snap_id=parse_id(snapshot, "snapshot id"),
        raw=tuple(argv),
    )


def snapshot_args(action: str, argv: Sequence[str]) -> SnapshotArgs:
    """snapshot_delete or snapshot_revert."""
    if action not in ("snapshot_delete", "snapshot_revert"):
        raise BadInput("unknown VM snapshot action %r" % action)
    domain, snapshot, vm, host = _four(action, "hypervisor id", argv)
    return SnapshotArgs(
        action=action,
        domain=domain_name(domain),
        vm_id=parse_id(vm, "VM id"),
        host=check_host(host),
        hypervisor_id=hypervisor_id(snapshot),
        raw=tuple(argv),
    )


def _four(action: str, second: str, argv: Sequence[str]) -> Tuple[str, str, str, str]:
    if len(argv) != 4:
        raise BadInput("%s takes 4 arguments (domain, %s, VM id, host), got %d" % (action, second, len(argv)))
    domain, snapshot, vm, host = argv
    return domain, snapshot, vm, host


def disk_args(action: str, argv: Sequence[str]) -> DiskArgs:
    if action == "attach_disk":
        short, full = 5, 7
    elif action == "detach_disk":
        short, full = 4, 6
    else:
        raise BadInput("unknown disk hotplug action %r" % action)
    if len(argv) not in (short, full):
        raise BadInput("%s takes %d arguments (or %d without VM id and host), got %d" % (action, full, short, len(argv)))
    domain, path, target, index = argv[:4]
    if not _TARGET.match(target or ""):
        raise BadInput("invalid disk target %r" % (target,))
    if not _TARGET_INDEX.match(index or ""):
        raise BadInput("invalid target index %r" % (index,))
    message = None
    if action == "attach_disk":
        message = argv[4]
        if not _BASE64.match(message or ""):
            raise BadInput("the driver action argument of attach_disk is not base64")
    vm_id = parse_id(argv[short], "VM id") if len(argv) == full else None
    host = check_host(argv[short + 1]) if len(argv) == full else None
    return DiskArgs(action, domain_name(domain), check_path(path), target, index, message, vm_id, host, tuple(argv))

"""Builders of oned documents for tests and the demo.

Every document they produce validates against the XSDs of OpenNebula 7.0, 7.2 and 7.4
(see tests/conformance). ``version`` shapes it for a release: "6.10" leaves out what 7.0
added (history PLAN_ID/ACTION_ID, image MODTIME) to exercise the readers on older shapes;
"7.2" and later give system datastores DS_LIVE_MIGRATE and DS_MIGRATE_SNAP.

Example::

    vm = vm_xml(42, disks=[image_disk(0, 7), image_disk(1, 8, persistent=True),
                           volatile_disk(2, 512, kind="swap")],
                history=[history("node1", hid=1), history("node2", hid=2)])
"""

from __future__ import annotations

from .objects import datastore_xml, ds_driver_action_xml, hook_xml, host_xml, image_xml, vmm_driver_action_xml
from .vmdoc import (
    DiskSpec,
    HistorySpec,
    SnapshotSpec,
    VmSnapshotSpec,
    cdrom_disk,
    disk_snapshot,
    history,
    image_disk,
    vm_snapshot,
    vm_xml,
    volatile_disk,
)
from .xml import b64, b64_wrapped

__all__ = [
    "DiskSpec", "HistorySpec", "SnapshotSpec", "VmSnapshotSpec", "b64", "b64_wrapped", "cdrom_disk",
    "datastore_xml", "disk_snapshot", "ds_driver_action_xml", "history", "hook_xml", "host_xml", "image_disk",
    "image_xml", "vm_snapshot", "vm_xml", "vmm_driver_action_xml", "volatile_disk",
]

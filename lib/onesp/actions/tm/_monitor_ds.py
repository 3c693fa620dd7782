"""Host side of VM disk monitoring for a system datastore that is not shared (SHARED=NO).

oned never asks the front-end to monitor such a datastore. Each host's VM probe instead
reads ``<datastores>/<id>/.monitor`` (which tm actions write with the datastore's TM_MAD)
and runs ``tm/<that driver>/monitor_ds <datastores>/<id>`` from the host's copy of the
remotes, printing what the script prints. So this runs on a hypervisor, by the probe,
with only the standard library (no lxml, no click) and no access to oned.

Output, one line per VM directory holding StorPool disks, as OpenNebula's own monitor_ds
scripts write it: ``VM=[ID=<vm>,MONITOR="<base64 of DISK_SIZE=[ID=..,SIZE=..] lines>"]``.

A ``disk.<n>`` link counts when it resolves to a device in SP_DEV_DIR; its volume is the
name there (links to ``/dev/storpool-byid/<id>`` resolve to the same device). Sizes:

* with an API token in the host's configuration (addon-storpoolrc in the remotes,
  /etc/storpool.conf, ...): the space each volume uses and its disk snapshots, from one
  VolumesSpace and one SnapshotsSpace call, exactly as the front-end reports them for a
  shared system datastore;
* without one (the usual host): the size of each volume's device, as OpenNebula's LVM
  drivers report a logical volume's size, and no snapshot sizes. stderr says so once.

An API failure falls back to device sizes: the probe drops all output of a script that fails.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ...runtime import config as configuration
from ...runtime import storpoolapi as storpool
from ...runtime.errors import OnespError
from . import _monitoring as monitoring

_DISK = re.compile(r"disk\.(\d+)\Z")


def storpool_disks(ds_dir: str, dev_dir: str) -> Dict[int, List[Tuple[int, str]]]:
    """{vm id: [(disk id, volume name)]} of the StorPool disks linked in ``ds_dir``."""
    try:
        devices = {os.path.realpath(os.path.join(dev_dir, name)): name for name in os.listdir(dev_dir)}
    except OSError:
        return {}
    found: Dict[int, List[Tuple[int, str]]] = {}
    for vm in sorted(os.listdir(ds_dir)):
        vm_dir = os.path.join(ds_dir, vm)
        if not vm.isdigit() or not os.path.isdir(vm_dir):
            continue
        for entry in sorted(os.listdir(vm_dir)):
            match = _DISK.match(entry)
            path = os.path.join(vm_dir, entry)
            if match and os.path.islink(path):
                volume = devices.get(os.path.realpath(path))
                if volume is not None:
                    found.setdefault(int(vm), []).append((int(match.group(1)), volume))
    return found


def device_megabytes(path: str) -> Optional[int]:
    """The size of the device (or file) at ``path`` in MiB, None when it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return monitoring.megabytes(os.lseek(fd, 0, os.SEEK_END))
    finally:
        os.close(fd)


def reports(cfg: configuration.Config, disks: Dict[int, List[Tuple[int, str]]],
            api: Optional[storpool.StorPool]) -> List[monitoring.VmReport]:
    """One report per VM with a disk whose size is known (the context ISO is not a DISK)."""
    names = cfg.names
    wanted: Dict[str, Tuple[int, int]] = {}
    for vm, items in disks.items():
        for disk, volume in items:
            parsed = names.parse(volume)
            if parsed is None or parsed.kind != "context":
                wanted[volume] = (vm, disk)
    sizes: Dict[Tuple[int, int], int] = {}
    snapshots: Dict[int, List[Tuple[int, int, int]]] = {}
    if api is not None:
        stored = cfg.SP_SPACE_USED_LVMWAY
        for name, size in monitoring.sizes_of(api.volumes_space(), wanted, stored).items():
            sizes[wanted[name]] = monitoring.megabytes(size)
        field = monitoring.size_key(stored)
        entries: Iterable[Mapping[str, Any]] = api.snapshots_space()
        for entry in entries:  # the whole cluster's: only names of the shape of a disk snapshot of ours are classified
            name = str(entry.get("name") or "")
            split = names.split_disk_snapshot(name)
            if split is None or split[0] not in wanted:
                continue
            size = int(entry.get(field) or 0)
            parsed = names.parse(name)
            if parsed is not None and parsed.kind == "disk_snapshot" and parsed.snap_id is not None \
                    and parsed.volume in wanted:
                vm, disk = wanted[parsed.volume]
                snapshots.setdefault(vm, []).append((parsed.snap_id, disk, monitoring.megabytes(size)))
    else:
        for volume, key in wanted.items():
            found = device_megabytes(os.path.join(cfg.SP_DEV_DIR, volume))
            if found is not None:
                sizes[key] = found
    out = []
    for vm in sorted(disks):
        disk_sizes = tuple(sorted((disk, size) for (owner, disk), size in sizes.items() if owner == vm))
        if disk_sizes:
            out.append(monitoring.VmReport(vm, disk_sizes, tuple(sorted(snapshots.get(vm, ())))))
    return out


def main(argv: Sequence[str]) -> int:
    """``monitor_ds <datastore directory>``, as the host probe runs it."""
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print("monitor_ds: expected one argument, the directory of a system datastore", file=sys.stderr)
        return 1
    try:
        cfg = configuration.load()
    except OnespError as exc:
        print("monitor_ds: %s" % exc, file=sys.stderr)
        return 1
    disks = storpool_disks(argv[0], cfg.SP_DEV_DIR)
    if not disks:
        return 0
    found = None
    if cfg.SP_AUTH_TOKEN:
        try:
            found = reports(cfg, disks, storpool.from_config(cfg))
        except OnespError as exc:
            print("monitor_ds: StorPool API: %s; reporting device sizes, no snapshot sizes" % exc, file=sys.stderr)
    else:
        print("monitor_ds: no StorPool API token on this host: reporting device sizes, no snapshot sizes",
              file=sys.stderr)
    if found is None:
        found = reports(cfg, disks, None)
    for report in found:
        print(report.line())
    return 0

"""The vTPM state in VM snapshots, in the addon's form: a gzip tar of ``<vm dir>/tpm`` written
into the volume ``<px>-sys-<vm>-SWTPM``, which joins the disks in the group snapshot.

OpenNebula keeps a VM's vTPM state in files on its host (see ``actions.tm._firmware``), so a
StorPool snapshot cannot take it by itself. For a VM with ``TPM/MODEL`` on a StorPool system
datastore:

* create: ``<vm dir>/tpm`` is refreshed from the running domain through OpenNebula's
  ``vtpm_setup backup`` where sudo allows it (otherwise it holds the state of the domain's
  last stop, and the log says so), archived to a temporary file in the VM directory, and
  written over the whole SWTPM volume (the archive, then zeros). The volume is made once
  (``SIZE``, tagged like the VM's NVRAM with type SWTPM; a volume the addon made is used as it
  is) and is attached to the host only for the write. A VM with no ``tpm`` directory gets no
  vTPM in its snapshot (logged). The write has no undo, like the NVRAM save: the volume holds
  a copy of the current state, which nothing else reads.
* revert: when the VM snapshot has a SWTPM snapshot (the addon's too: same name and form), it
  is attached read-only to the host, unpacked into a new directory and checked (one ``tpm``
  directory of directories and regular files), and swapped in for ``<vm dir>/tpm``; the undo
  swaps the old one back. OpenNebula's deploy then hands it to swtpm (``vtpm_setup recover``).
* delete: ``_vmsnap.cleanup_volumes`` names the SWTPM snapshot; tm delete removes the volume
  and, with VMSNAPSHOT_DELETE_ON_TERMINATE, its VM snapshots.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, List, Optional

from ...runtime import attaching, disks, volumes
from ...runtime.errors import HostError, OnespError
from ...runtime.naming import unique_token
from ..tm import _firmware as firmware
from . import _vmsnap as vmsnap
from ._vmstate import vm_dir

if TYPE_CHECKING:
    from ...one import Datastore, Vm
    from ...runtime.actioncontext import Context
    from ...runtime.hostexec import Host

#: The addon's size for the vTPM volume; a TPM 2.0 state is some tens of KiB, gzip makes it less.
SIZE = 4 * 1024 * 1024
COPY_TIMEOUT = 600

_ARCHIVE = (
    'd=$1; out=$2; setup=$3; dom=$4; uri=$5; max=$6\n' + firmware.REFRESH_TPM + firmware.CHECK_TPM +
    'umask 077; set -C\n'
    'tar -czf "$out" -C "$d" tpm || exit 1\n'
    's=$(stat -c %s -- "$out") || exit 1\n'
    'if [ "$s" -gt "$max" ]; then echo "the vTPM archive is $s bytes, its volume holds $max" >&2; exit 1; fi\n'
    'echo "saved $refreshed"\n'
)
#: The archive, then zeros to the end of the device (no tail of an older archive stays behind).
_WRITE = (
    't=$1; dev=$2; max=$3\n'
    'if [ ! -e "$dev" ]; then echo "$dev is not there: the vTPM volume is not attached to this host" >&2; exit 1; fi\n'
    's=$(stat -c %s -- "$t") || exit 1\n'
    '{ cat -- "$t" && head -c "$((max - s))" /dev/zero; }'
    ' | dd of="$dev" bs=64K iflag=fullblock conv=notrunc,nocreat,fdatasync status=none\n'
)


def _applies(vm: Vm, system_ds: Datastore) -> bool:
    return bool(vm.tpm_model) and vmsnap.system_on_storpool(system_ds)


def capture(ctx: Context, vm: Vm, system_ds: Datastore, host: str, domain: str) -> List[str]:
    """Write the VM's vTPM state into its SWTPM volume; returns the volumes to add to the group snapshot."""
    if not _applies(vm, system_ds):
        return []
    directory = vm_dir(vm, system_ds)
    node = ctx.host(host)
    domain = firmware.check_domain(domain)
    setup = posixpath.join(ctx.config.SCRIPTS_REMOTE_DIR, "vtpm_setup")
    archive = posixpath.join(directory, ".onesp-tpm-%s.tgz" % unique_token(8))
    name: str = ctx.names.swtpm(vm.id)
    with ctx.step("look for the vTPM volume %s" % name):
        found = ctx.sp.volume_or_none(name)
    size = int(found["size"]) if found is not None else SIZE
    ctx.undo(node.run, ["rm", "-f", "--", archive], what="remove %s" % archive, label="remove %s" % archive)
    with ctx.step("archive the vTPM state of VM %d in %s on %s" % (vm.id, directory, host)):
        answer = str(node.run(["sh", "-c", _ARCHIVE, "sh", directory, archive, setup, domain,
                               ctx.config.LIBVIRT_URI, str(size)],
                              timeout=COPY_TIMEOUT, what="archive the vTPM state")).strip()
    if answer == "absent":
        ctx.log.warning("VM %d has a TPM but %s/tpm on %s holds no vTPM state: the snapshot has none",
                        vm.id, directory, host)
        return []
    if not answer.startswith("saved"):
        raise HostError(host, "archive the vTPM state", "unexpected answer %r" % answer[:100])
    if answer == "saved no":
        ctx.log.warning("%s is not usable through sudo on %s: the vTPM state in this snapshot of VM %d is the one "
                        "saved at the domain's last stop", setup, host, vm.id)
    if found is None:
        tags = ctx.tags.vm_disk(vm.id, None, "SWTPM", disks.qos_context(ctx.config, vm, system_ds), vm.vc_policy)
        volumes.create(ctx, name, size_bytes=SIZE, template=ctx.names.template(system_ds.id), tags=tags,
                       owner=ctx.tags.owner(vm.id, disk_type="SWTPM"))
    client = ctx.client_id(host)
    device = attaching.attach(ctx, name, host, client=client)
    with ctx.step("write the vTPM state of VM %d to %s on %s" % (vm.id, name, host)):
        node.run(["sh", "-c", _WRITE, "sh", archive, device, str(size)], timeout=COPY_TIMEOUT, what="write %s" % name)
    with ctx.step("detach %s from %s" % (name, host)):
        attaching.detach_all(ctx, name, force=True, client=client, no_undo=_DETACHED)
    _remove(ctx, node, [archive])
    return [name]


#: Why detaching the vTPM volume or snapshot registers no inverse: nothing needs it attached again.
_DETACHED = "the vTPM volume is attached only while written or read"


def find(ctx: Context, vm: Vm, system_ds: Datastore, snap_id: int, timestamp: int) -> Optional[str]:
    """The SWTPM snapshot of a VM snapshot, None when the VM or the VM snapshot has none."""
    if not _applies(vm, system_ds):
        return None
    member = vmsnap.member_snapshot(ctx, vm, ctx.names.swtpm(vm.id), snap_id, timestamp, "vTPM")
    return member[0] if member is not None else None


def put_back(ctx: Context, host: str, vm: Vm, system_ds: Datastore, snapshot: str) -> List[str]:
    """Swap the vTPM state of ``snapshot`` in for ``<vm dir>/tpm`` on ``host``, with undo;
    returns the work paths ``tidy`` removes once the revert is complete."""
    directory = vm_dir(vm, system_ds)
    token = unique_token(8)
    new = posixpath.join(directory, ".onesp-tpm-%s" % token)
    old = posixpath.join(directory, ".onesp-tpm-old-%s" % token)
    node = ctx.host(host)
    client = ctx.client_id(host)
    device = attaching.attach(ctx, snapshot, host, snapshot=True, client=client)
    ctx.undo(node.run, ["rm", "-rf", "--", new], what="remove %s" % new, label="remove %s" % new)
    with ctx.step("unpack the vTPM state of %s on %s" % (snapshot, host)):
        node.run(["sh", "-c", firmware.UNPACK_TPM, "sh", device, new], timeout=COPY_TIMEOUT,
                 what="unpack %s" % snapshot)
    ctx.undo(node.run, ["sh", "-c", firmware.UNSWAP_TPM, "sh", directory, new, old], what="put the vTPM state back",
             label="put the vTPM state of VM %d back on %s" % (vm.id, host))
    with ctx.step("put the vTPM state of %s in %s/tpm on %s" % (snapshot, directory, host)):
        node.run(["sh", "-c", firmware.SWAP_TPM, "sh", directory, new, old], what="swap the vTPM state")
    with ctx.step("detach %s from %s" % (snapshot, host)):
        attaching.detach_all(ctx, snapshot, force=True, client=client, snapshot=True, no_undo=_DETACHED)
    return [new, old]


def tidy(ctx: Context, host: str, paths: List[str]) -> None:
    """After a complete revert: remove the work directories (a failure is only logged)."""
    if paths:
        _remove(ctx, ctx.host(host), paths)


def _remove(ctx: Context, node: Host, paths: List[str]) -> None:
    try:
        node.run(["rm", "-rf", "--", *paths], what="remove %s" % ", ".join(paths))
    except OnespError as exc:
        ctx.log.error("%s on %s stay: %s", ", ".join(paths), node.name, exc)

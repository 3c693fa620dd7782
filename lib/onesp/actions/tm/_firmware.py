"""A VM's firmware state beside its disks in backups: the vTPM state and the UEFI NVRAM.

vTPM, as OpenNebula 7 keeps it (its kvm ``shutdown``/``deploy`` and ``vtpm_setup``): while the
domain runs, swtpm keeps the state under libvirt's own directory on the host
(``/var/lib/libvirt/swtpm/<domain uuid>``); when the domain stops, ``vtpm_setup backup`` copies
it into ``<vm dir>/tpm``, and at the next deploy ``vtpm_setup recover`` copies that back. Its
backup drivers add ``disk.tpm.0`` to the backup directory: a gzip tar of ``tpm`` made in the VM
directory (after ``vtpm_setup backup``, so a running VM's current state), for VMs with
``TEMPLATE/TPM/MODEL``. The backup datastore drivers keep that file, their ``ls`` lists it under
the key ``tpm``, and a restore of the whole VM (or of disk 0) unpacks it into the VM directory,
replacing ``tpm``. This module does the same, so either restore finds it:

* prebackup: ``disk.tpm.0`` when the VM has a TPM model and ``<vm dir>/tpm`` is a directory
  (not a link) holding only directories and regular files. A live backup first refreshes that
  directory through ``sudo -n <SCRIPTS_REMOTE_DIR>/vtpm_setup backup <uuid> <vm dir>``, as
  OpenNebula's does, when the script is there and sudo allows it; without it the directory
  holds the state of the domain's last stop, and the log says so. The deploy id is the domain
  UUID on OpenNebula 7; any other deploy id is turned into one with ``virsh domuuid``.
* restore: the archive is unpacked into a new directory of the restore work area and checked
  (one ``tpm`` directory, only directories and regular files) before the VM's ``tpm`` is
  swapped for it; the old one is kept until the restore succeeds and put back by the undo.

NVRAM (onesp's own, see ``_nvram``): ``disk.nvram.0``, the raw bytes of the VM's NVRAM as its
domain sees it at the backup: the regular file at ``<vm dir>/<vm name>_VARS.fd`` when there is
one, else the NVRAM volume's device (a domain the addon deployed opens the device). OpenNebula's
backup drivers store every ``disk.*`` file and pass over this one (their ``ls`` knows only
numbers and ``tpm``), so the restore here finds it next to disk 0's backup file: the same
location with ``disk.<id>.<increment>`` replaced by ``disk.nvram.<increment>``. A backup without
it (made before, or by another driver) leaves the NVRAM as it is, with a warning. Restored, the
bytes go into the NVRAM volume (safety snapshot first, reverted by the undo) and into the file
(the old file kept until the restore succeeds), so the next start uses them.

Both are restored only with disk 0 (a whole-VM restore or one of disk 0), as OpenNebula does.
Host side: argv only, every value a positional parameter of a fixed script.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from ...runtime import snapshotting, volumes
from ...runtime.actioncontext import Context
from ...runtime.errors import BadInput, HostError, OnespError
from ...runtime.naming import unique_token
from . import _nvram as nvram
from ._common import attach_readonly

if TYPE_CHECKING:
    from ...one import Vm
    from ...runtime.hostexec import Host
    from ._backups import BackupJob

TPM_FILE = "disk.tpm.0"
NVRAM_FILE = "disk.nvram.0"
SAFETY_MARK = "tmRestore"
#: A vTPM state is a few tens of KiB, a NVRAM at most some MiB: longer than this is stuck.
COPY_TIMEOUT = 600
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_DOMAIN = re.compile(r"[A-Za-z0-9_.\-]{1,128}\Z")
_DISK_FILE = re.compile(r"(?P<head>.*/)disk\.\d+\.(?P<increment>\d+)\Z")

#: Refresh ``$d/tpm`` from libvirt's state of domain ``$dom`` (its UUID, or a name looked up
#: with ``virsh --connect $uri domuuid``) through OpenNebula's vtpm_setup (``$setup``) when it
#: is there and sudo allows it; sets ``refreshed``.
REFRESH_TPM = (
    'refreshed=no\n'
    'if [ -n "$dom" ] && [ -x "$setup" ] && sudo -n -l "$setup" >/dev/null 2>&1; then\n'
    '  case "$dom" in\n'
    '    ????????-????-????-????-????????????) uuid=$dom ;;\n'
    '    *) uuid=$(virsh --connect "$uri" domuuid "$dom") && [ -n "$uuid" ] || exit 1 ;;\n'
    '  esac\n'
    '  sudo -n "$setup" backup "$uuid" "$d" || exit 1\n'
    '  refreshed=yes\n'
    'fi\n'
)
#: ``absent`` (and stop) unless ``$d/tpm`` is a directory of directories and regular files.
CHECK_TPM = (
    'if [ -L "$d/tpm" ] || [ ! -d "$d/tpm" ]; then echo absent; exit 0; fi\n'
    'if [ -n "$(find "$d/tpm" ! -type f ! -type d -print)" ]; then\n'
    '  echo "$d/tpm holds something other than directories and regular files" >&2; exit 1\n'
    'fi\n'
)
_SAVE_TPM = (
    'd=$1; out=$2; setup=$3; dom=$4; uri=$5\n' + REFRESH_TPM + CHECK_TPM +
    'umask 077; set -C\n'
    'tar -czf "$out" -C "$d" tpm || exit 1\n'
    'echo "saved $refreshed"\n'
)
_SAVE_NVRAM = (
    'f=$1; dev=$2; out=$3\n'
    'umask 077; set -C\n'
    'if [ ! -L "$f" ] && [ -f "$f" ]; then\n'
    '  dd if="$f" iflag=nofollow bs=64K status=none > "$out" || exit 1; echo file; exit 0\n'
    'fi\n'
    'if [ -e "$dev" ]; then dd if="$dev" bs=64K status=none > "$out" || exit 1; echo volume; exit 0; fi\n'
    'echo absent\n'
)
#: Unpack archive ``$1`` (a file, or a device with zeros after the archive) into the new
#: directory ``$2`` and check that it holds one ``tpm`` directory of directories and files.
UNPACK_TPM = (
    'a=$1; x=$2\n'
    'rm -rf -- "$x" && mkdir -m 700 -- "$x" || exit 1\n'
    'tar -xzf "$a" -C "$x" --no-same-owner || exit 1\n'
    'if [ "$(ls -A -- "$x")" != tpm ] || [ -L "$x/tpm" ] || [ ! -d "$x/tpm" ]; then\n'
    '  echo "the vTPM archive holds something other than one tpm directory" >&2; exit 1\n'
    'fi\n'
    'if [ -n "$(find "$x/tpm" ! -type f ! -type d -print)" ]; then\n'
    '  echo "the vTPM archive holds something other than directories and regular files" >&2; exit 1\n'
    'fi\n'
)
#: Old state aside (if any), the new one in: two renames in the VM directory's filesystem.
SWAP_TPM = (
    'd=$1; x=$2; old=$3\n'
    'if [ -e "$d/tpm" ] || [ -L "$d/tpm" ]; then mv -T -- "$d/tpm" "$old" || exit 1; fi\n'
    'mv -T -- "$x/tpm" "$d/tpm"\n'
)
#: Undo of the swap, whatever part of it happened (the new state is still in x/tpm until moved in).
UNSWAP_TPM = (
    'd=$1; x=$2; old=$3\n'
    'if [ ! -e "$x/tpm" ]; then rm -rf -- "$d/tpm" || exit 1; fi\n'
    'if [ -e "$old" ] || [ -L "$old" ]; then mv -T -- "$old" "$d/tpm"; fi\n'
)
_SIZE = 'if [ -L "$1" ] || [ ! -f "$1" ]; then echo "$1 is not a regular file" >&2; exit 1; fi; stat -c %s -- "$1"'
_WRITE_DEVICE = (
    'src=$1; dev=$2; n=$3\n'
    'if [ ! -e "$dev" ]; then echo "$dev is not there: the NVRAM volume is not attached to this host" >&2; exit 1; fi\n'
    'dd if="$src" of="$dev" iflag=nofollow,count_bytes count="$n" bs=64K conv=notrunc,nocreat,fdatasync status=none\n'
)
#: The old NVRAM file is kept as a second name in the work area; the new file renamed over the path.
_REPLACE_FILE = (
    'f=$1; new=$2; old=$3\n'
    'if [ ! -L "$f" ] && [ -f "$f" ]; then ln -T -- "$f" "$old" || exit 1; fi\n'
    'mv -Tf -- "$new" "$f"\n'
)
_UNREPLACE_FILE = (
    'f=$1; new=$2; old=$3\n'
    'if [ -e "$new" ]; then exit 0; fi\n'
    'if [ -e "$old" ]; then mv -Tf -- "$old" "$f"; else rm -f -- "$f"; fi\n'
)


# -- backup -------------------------------------------------------------------------------------
def back_up(ctx: Context, j: BackupJob, live: bool) -> None:
    """Add ``disk.tpm.0`` and ``disk.nvram.0`` to the backup directory of job ``j`` where the VM has them.

    Nothing here needs its own undo: the files are in the backup directory, which the undo
    of the prebackup removes as a whole.
    """
    if j.vm.tpm_model:
        _back_up_tpm(ctx, j, live)
    if j.vm.t_os_nvram:
        _back_up_nvram(ctx, j)


def check_domain(deploy_id: Optional[str]) -> str:
    """A deploy id (a domain UUID on OpenNebula 7, a name before) safe to hand to a host; "" for none."""
    if not deploy_id:
        return ""
    if not _UUID.match(deploy_id) and not _DOMAIN.match(deploy_id):
        raise BadInput("invalid deploy id %r" % (deploy_id,))
    return deploy_id


def _back_up_tpm(ctx: Context, j: BackupJob, live: bool) -> None:
    domain = check_domain(j.deploy_id) if live else ""
    setup = posixpath.join(ctx.config.SCRIPTS_REMOTE_DIR, "vtpm_setup")
    target = posixpath.join(j.backup_dir, TPM_FILE)
    with ctx.step("save the vTPM state of VM %d to %s on %s" % (j.vm.id, target, j.host)):
        answer = str(ctx.host(j.host).run(["sh", "-c", _SAVE_TPM, "sh", j.vm_dir, target, setup, domain,
                                           ctx.config.LIBVIRT_URI],
                                          timeout=COPY_TIMEOUT, what="save the vTPM state")).strip()
    if answer == "absent":
        ctx.log.warning("VM %d has a TPM but %s/tpm on %s holds no vTPM state: the backup has none",
                        j.vm.id, j.vm_dir, j.host)
    elif answer == "saved no" and live:
        ctx.log.warning("%s is not usable through sudo on %s: the vTPM state in the backup of VM %d is the one "
                        "saved at the domain's last stop", setup, j.host, j.vm.id)
    elif not answer.startswith("saved"):
        raise HostError(j.host, "save the vTPM state", "unexpected answer %r" % answer[:100])


def _back_up_nvram(ctx: Context, j: BackupJob) -> None:
    name = ctx.names.nvram(j.vm.id)
    if nvram.volume_size(ctx, name) is None:
        return  # not onesp's NVRAM: nothing of it is on StorPool
    source = nvram.path(j.vm, j.vm_dir)
    target = posixpath.join(j.backup_dir, NVRAM_FILE)
    with ctx.step("save the NVRAM of VM %d to %s on %s" % (j.vm.id, target, j.host)):
        answer = str(ctx.host(j.host).run(["sh", "-c", _SAVE_NVRAM, "sh", source, ctx.device_path(name), target],
                                          timeout=COPY_TIMEOUT, what="save the NVRAM")).strip()
    if answer == "absent":
        ctx.log.warning("neither %s nor the device of %s is on %s: the backup of VM %d has no NVRAM",
                        source, name, j.host, j.vm.id)
    elif answer not in ("file", "volume"):
        raise HostError(j.host, "save the NVRAM", "unexpected answer %r" % answer[:100])


# -- restore ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetched:
    """The firmware state of a backup, downloaded into the restore work area (None: not in it)."""

    tpm: Optional[str]
    nvram: Optional[str]
    nvram_size: int = 0


def fetch(ctx: Context, download: Callable[[str, str], None], listing: Dict[str, str], disk_urls: Dict[int, str],
          vm: Vm, host: str, work: str) -> Fetched:
    """Download what the backup holds of the VM's firmware state, before any volume is touched.

    ``download(url, path)`` streams a backup file to ``path`` on the host. Only with disk 0.
    """
    if 0 not in disk_urls:
        return Fetched(None, None)
    tpm: Optional[str] = None
    if "tpm" in listing:
        tpm = posixpath.join(work, "disk.tpm")
        with ctx.step("fetch the vTPM state of VM %d to %s on %s" % (vm.id, tpm, host)):
            download(listing["tpm"], tpm)
        with ctx.step("check the vTPM backup of VM %d" % vm.id):
            ctx.host(host).run(["sh", "-c", UNPACK_TPM, "sh", tpm, posixpath.join(work, "tpm.new")],
                               timeout=COPY_TIMEOUT, what="unpack the vTPM backup")
    path, size = _fetch_nvram(ctx, download, disk_urls[0], vm, host, work)
    return Fetched(tpm, path, size)


def _fetch_nvram(ctx: Context, download: Callable[[str, str], None], disk0_url: str, vm: Vm, host: str,
                 work: str) -> Tuple[Optional[str], int]:
    if not vm.t_os_nvram or nvram.volume_size(ctx, ctx.names.nvram(vm.id)) is None:
        return None, 0
    match = _DISK_FILE.match(disk0_url)
    if not match:
        ctx.log.warning("the backup of disk 0 of VM %d is not at a disk.<id>.<increment> location: "
                        "its NVRAM is not restored", vm.id)
        return None, 0
    url = "%sdisk.nvram.%s" % (match.group("head"), match.group("increment"))
    path = posixpath.join(work, "disk.nvram")
    try:
        with ctx.step("fetch the NVRAM of VM %d to %s on %s" % (vm.id, path, host)):
            download(url, path)
    except OnespError as exc:
        ctx.log.warning("the backup holds no NVRAM of VM %d (%s): its NVRAM stays as it is", vm.id, exc)
        return None, 0
    with ctx.step("check the NVRAM backup of VM %d" % vm.id):
        text = str(ctx.host(host).run(["sh", "-c", _SIZE, "sh", path], what="size of %s" % path)).strip()
        if not text.isdigit():
            raise HostError(host, "size of %s" % path, "unexpected answer %r" % text[:80])
        size = int(text)
        nvram.check_size(size, "the NVRAM in the backup of VM %d" % vm.id)
    return path, size


def put_back(ctx: Context, fetched: Fetched, vm: Vm, host: str, vm_dir: str, work: str, client: int) -> List[str]:
    """Put the fetched firmware state in place, each step with its undo (see the module docstring).

    Returns the safety snapshots it made, for the restore to keep or delete with its own.
    """
    node = ctx.host(host)
    safety: List[str] = []
    if fetched.nvram is not None:
        name = ctx.names.nvram(vm.id)
        safety.append(_write_volume(ctx, node, name, fetched.nvram, fetched.nvram_size, client))
        replace_file(ctx, host, nvram.path(vm, vm_dir), fetched.nvram, posixpath.join(work, "nvram.old"))
    if fetched.tpm is not None:
        new, old = posixpath.join(work, "tpm.new"), posixpath.join(work, "tpm.old")
        ctx.undo(node.run, ["sh", "-c", UNSWAP_TPM, "sh", vm_dir, new, old], what="put the vTPM state back",
                 label="put the vTPM state of VM %d back on %s" % (vm.id, host))
        with ctx.step("put the vTPM state of VM %d in %s/tpm on %s" % (vm.id, vm_dir, host)):
            node.run(["sh", "-c", SWAP_TPM, "sh", vm_dir, new, old], what="swap the vTPM state")
    return safety


def _write_volume(ctx: Context, node: Host, name: str, path: str, size: int, client: int) -> str:
    """Safety snapshot of the NVRAM volume, its size made the NVRAM's, the bytes written;
    returns the safety snapshot's name (kept for DELAY_DELETE like those of the disks)."""
    safety: str = ctx.names.temporary(name, SAFETY_MARK, unique_token(4))
    readonly = attach_readonly(ctx, False)
    ctx.undo(snapshotting.roll_back_to, ctx, name, safety, client, readonly, label="revert %s to %s" % (name, safety))
    with ctx.step("snapshot volume %s as %s" % (name, safety)):
        snapshotting.take_snapshot(ctx, name, safety, no_undo=_ROLL_BACK)
    with ctx.step("write the NVRAM backup into %s on %s" % (name, node.name)):
        volumes.resize(ctx, name, size, shrink_ok=True, no_undo=_ROLL_BACK)
        node.run(["sh", "-c", _WRITE_DEVICE, "sh", path, ctx.device_path(name), str(size)],
                 timeout=COPY_TIMEOUT, what="write %s" % name)
    return safety


#: Why the NVRAM volume's snapshot and resize register no inverse of their own.
_ROLL_BACK = "the revert to the safety snapshot, registered first, undoes both"


def replace_file(ctx: Context, host: str, target: str, new: str, old: str) -> None:
    """Rename ``new`` over ``target`` on ``host``, the old regular file kept as ``old`` (same filesystem).

    The undo renames ``old`` back (or removes the file when there was none); ``old`` is left
    for the caller to remove with its work area.
    """
    node = ctx.host(host)
    ctx.undo(node.run, ["sh", "-c", _UNREPLACE_FILE, "sh", target, new, old], what="put %s back" % target,
             label="put the NVRAM file %s back on %s" % (target, host))
    with ctx.step("put the NVRAM in %s on %s" % (target, host)):
        node.run(["sh", "-c", _REPLACE_FILE, "sh", target, new, old], what="replace %s" % target)

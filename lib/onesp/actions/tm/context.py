"""tm context: the context ISO, built on the front-end and written to a StorPool volume.

``context <context.sh> [<file>|<file>:<name> ...] <host>:<vm dir>/disk.<n> <vm id> <system ds id>``
(variable arity: destination, VM id and datastore id are taken from the end).

The files oned lists are copied into a private staging directory — under their own base
name, or under ``<name>`` for ``<file>:<name>`` (the FILES_DS form) — and MKISOFS packs
them (volume id CONTEXT, Joliet and Rock Ridge; see ``iso_tool``); nothing reaches a shell, only regular
files named in the arguments are read, and a name can never leave the staging directory.
The ISO goes to ``one-sys-<vm>-<n>-iso``: created with the system datastore's template
(tags type CNTXT when TAG_CONTEXT_ISO), or resized to the new ISO when it exists (context
refresh); it is attached to the host, the ISO is streamed into the device there with dd,
and ``disk.<n>`` points at it (attached with READONLY_MODE). With FORCE_DETACH_OTHER_CONTEXT
the VM's volumes are then detached from the other hosts of its history (see
``common.release_other_hosts``; never forced).

UEFI NVRAM (``T_OS_NVRAM="storpool:template=<file>"``): ``one-sys-<vm>-NVRAM`` is created
from the template file once (exactly its size) and attached to the host, as the addon does;
the template must be, as opened, a regular file under an OVMF_PATH directory (a bare name is
looked up in the first), so a VM owner cannot have any other front-end file copied into a
volume. When the VM is being deployed (LCM state PROLOG, or its retry), the volume's contents
are then written to ``<vm dir>/<vm name>_VARS.fd``, the ``<nvram>`` oned writes, as a regular
file (see ``actions.tm._nvram``: why not a link, and when mv and premigrate save and restore it);
OpenNebula's deploy copies its firmware template there only when nothing is there. In any
other state (a context refresh of a VM that has a domain on the host) that file is the VM's
own and is left alone.

With ``INCLUDE_CONTEXT_PACKAGES`` (a number above 0, or YES, in the VM's user template) the
ISO also holds the files under CONTEXT_PACKAGES_DIR (OpenNebula's guest context packages) at
their relative paths, as the addon's rsync of ``/usr/share/one/context/*`` did; a file oned
lists under the same name wins.

Deliberately not done: http:// context files (refused). A refresh
overwrites the previous ISO in place, so its content cannot be rolled back; a re-run
rebuilds it from oned's current state.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, BinaryIO, Dict, List, Optional, Sequence, Set, Tuple

from ...runtime import arguments, attaching, disks, frontfiles, volumes
from ...runtime.actioncontext import Context
from ...runtime.arguments import HostPath
from ...runtime.errors import BadInput, ConfigError, HostError, Unsupported
from ...runtime.hostexec import check_path
from ...runtime.storpoolerrors import ApiExists
from . import _nvram as uefi
from ._common import attach_readonly, link_disk, nvram_file, release_other_hosts

if TYPE_CHECKING:
    from ...one import Datastore, Vm
#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION

SECTOR = 512
ISO_TIMEOUT = 600
#: MKISOFS when unset; replaced by xorriso where it is not installed (iso_tool).
DEFAULT_ISO_TOOL = "genisoimage"
WRITE_TIMEOUT = 600
_TARGET = re.compile(r"[^/\x00-\x1f\x7f]{1,255}\Z")
#: LCM states PROLOG and PROLOG_FAILURE: tm context is part of a deploy, the VM is not running.
DEPLOYING = (1, 39)
#: A file for the ISO: (path on the front-end, name in the ISO, directory it must really be in or None).
IsoEntry = Tuple[str, str, Optional[str]]


@dataclass(frozen=True)
class Args:
    """``context``'s arguments: any number of files, then the disk, the VM and the datastore."""

    files: Annotated[Tuple[str, ...], "<context.sh> [<file>|<file>:<name> ...]"]
    dst: Annotated[HostPath, "<host>:<vm dir>/disk.<n>"]
    vm_id: Annotated[int, "<vm id>"]
    ds_id: Annotated[int, "<system ds id>"]

    @classmethod
    def parse(cls, action: str, argv: Sequence[str]) -> "Args":
        a = arguments.arity(action, argv, 3, 10000)
        return cls(tuple(arguments.context_file(f) for f in a[:-3]), HostPath.parse(a[-3], "destination"),
                   arguments.vm_id(a[-2]), arguments.ds_id(a[-1]))


def run(ctx: Context) -> None:
    args = Args.parse(ctx.action, ctx.argv)
    dst = args.dst
    if dst.disk_id is None:
        raise BadInput("%s is not a disk path" % dst)
    with ctx.step("read datastore %d" % args.ds_id):
        system_ds = ctx.one.datastore(args.ds_id)
    ctx.use_datastore(system_ds)
    with ctx.step("read VM %d" % args.vm_id):
        vm = ctx.one.vm(args.vm_id)
    if vm.context_disk_id is not None and vm.context_disk_id != dst.disk_id:
        raise BadInput("the context disk of VM %d is disk %d, not %d" % (vm.id, vm.context_disk_id, dst.disk_id))
    entries = iso_entries(args.files)
    if _wants_packages(vm.include_context_packages):
        with ctx.step("include the context packages"):
            entries += package_entries(ctx.config.CONTEXT_PACKAGES_DIR, {entry[1] for entry in entries})
    name = ctx.names.context(vm.id, dst.disk_id)
    with contextlib.ExitStack() as opened:
        nvram = _nvram_source(ctx, vm) if wants_nvram(vm) else None
        if nvram is not None and nvram[0] is not None:
            opened.callback(nvram[0].close)
        _write_iso(ctx, vm, name, entries, dst, system_ds)
        if nvram is not None:
            _nvram(ctx, vm, dst.host, dst.vm_dir, system_ds, nvram)
    if ctx.config.FORCE_DETACH_OTHER_CONTEXT:
        names = [v.name for v in disks.vm_volumes(ctx.names, vm, system_on_storpool=True, include_context=False)]
        if wants_nvram(vm):
            names.append(ctx.names.nvram(vm.id))
        release_other_hosts(ctx, vm, names + [name], dst.host)


# -- the ISO ----------------------------------------------------------------------------------------


def _write_iso(ctx: Context, vm: Vm, name: str, entries: List[IsoEntry], dst: HostPath, system_ds: Datastore) -> None:
    """Build the ISO, put it on volume ``name`` attached to the host and point ``disk.<n>`` at it."""
    tags = None
    if ctx.config.TAG_CONTEXT_ISO:
        tags = ctx.tags.vm_disk(vm.id, dst.disk_id, "CNTXT", disks.qos_context(ctx.config, vm, system_ds),
                                vm.vc_policy)
    with tempfile.TemporaryDirectory(prefix="onesp-context-") as staging:
        iso = build_iso(ctx, entries, staging)
        size = -(-os.path.getsize(iso) // SECTOR) * SECTOR
        created = _create_or_resize(ctx, name, size, ctx.names.template(system_ds.id), tags)
        link_disk(ctx, dst.host, name, dst.path, readonly=False, system_ds=system_ds, attach_undo=created)
        with open(iso, "rb") as data, ctx.step("write the context ISO to %s on %s" % (name, dst.host)):
            ctx.host(dst.host).run(["dd", "of=" + ctx.device_path(name), "bs=1M", "conv=notrunc,fdatasync",
                                    "status=none"], stdin=data, timeout=WRITE_TIMEOUT, what="dd of=%s" % name)
    if attach_readonly(ctx, True):
        attaching.detach(ctx, name, dst.host)
        attaching.attach(ctx, name, dst.host, readonly=True)


def iso_entries(files: Tuple[str, ...]) -> List[IsoEntry]:
    """(source path, name in the ISO, None) for each argument; refuses anything but plain files."""
    if not files:
        raise BadInput("no context files given")
    entries: List[IsoEntry] = []
    names = set()
    for item in files:
        if "://" in item:
            raise Unsupported("context file %s: files from URLs are not supported" % item)
        source, sep, target = item.partition(":")
        target = target.strip().strip("'\"") if sep else os.path.basename(source)
        source = check_path(source)
        if not _TARGET.match(target) or target in (".", ".."):
            raise BadInput("context file %r: invalid name %r in the ISO" % (source, target))
        if target in names:
            raise BadInput("context file %r: a second file named %r" % (source, target))
        if not os.path.isfile(source):
            raise BadInput("context file %s: not a regular file on the front-end" % source)
        names.add(target)
        entries.append((source, target, None))
    return entries


def _wants_packages(value: Optional[str]) -> bool:
    text = (value or "").strip().upper()
    return text in ("YES", "TRUE") or (text.isdigit() and int(text) > 0)


def package_entries(directory: str, taken: Set[str]) -> List[IsoEntry]:
    """(source path, path in the ISO, ``directory``) of every regular file under ``directory``
    (the directories below it walked, symlinked directories not), leaving out the names in
    ``taken``. A file is read only if, as opened, it is inside ``directory`` (see build_iso)."""
    if not os.path.isdir(directory):
        raise ConfigError("CONTEXT_PACKAGES_DIR %s (INCLUDE_CONTEXT_PACKAGES) is not a directory" % directory)
    found: List[IsoEntry] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            source = os.path.join(root, name)
            target = os.path.relpath(source, directory).replace(os.sep, "/")
            if os.path.isfile(source) and target not in taken:
                found.append((source, target, directory))
    return found


def _open_regular(source: str, within: Optional[str]) -> BinaryIO:
    """``source`` opened for reading, judged by what was opened: a regular file (a FIFO or a
    device is refused, never waited on) and, with ``within``, really inside that directory."""
    handle = os.fdopen(os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC), "rb")
    try:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise BadInput("context file %s: not a regular file on the front-end" % source)
        if within is not None:
            real = os.readlink("/proc/self/fd/%d" % handle.fileno())
            if not frontfiles.inside(real, [os.path.realpath(within)]):
                raise BadInput("context package %s: is %s, outside CONTEXT_PACKAGES_DIR %s" % (source, real, within))
        os.set_blocking(handle.fileno(), True)
    except BaseException:
        handle.close()
        raise
    return handle


def iso_tool(configured: str) -> List[str]:
    """The ISO builder's argv: MKISOFS as configured, except that the default genisoimage,
    where it is not installed, gives way to ``xorriso -as mkisofs`` (what stock OpenNebula
    7.2+ installs and its own context action runs)."""
    tool = shlex.split(configured) or [DEFAULT_ISO_TOOL]
    if tool == [DEFAULT_ISO_TOOL] and shutil.which(DEFAULT_ISO_TOOL) is None and shutil.which("xorriso"):
        return ["xorriso", "-as", "mkisofs"]
    return tool


def build_iso(ctx: Context, entries: List[IsoEntry], staging: str) -> str:
    """Copy the entries into ``staging/files`` and pack them; returns the ISO's path."""
    tree = os.path.join(staging, "files")
    os.mkdir(tree, 0o700)
    with ctx.step("collect the context files"):
        for source, target, within in entries:
            try:
                if "/" in target:  # a package in a subdirectory of CONTEXT_PACKAGES_DIR
                    os.makedirs(os.path.join(tree, os.path.dirname(target)), 0o755, exist_ok=True)
                with _open_regular(source, within) as src, open(os.path.join(tree, target), "xb") as out:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
            except OSError as exc:
                raise BadInput("context file %s: %s" % (source, exc.strerror or exc)) from exc
    iso = os.path.join(staging, "context.iso")
    tool = iso_tool(ctx.config.MKISOFS)
    argv = tool + ["-quiet", "-o", iso, "-V", "CONTEXT", "-J", "-R", tree]
    with ctx.step("build the context ISO with %s" % tool[0]):
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=ISO_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise ConfigError("MKISOFS: %s is not installed on the front-end" % tool[0]) from exc
        except subprocess.TimeoutExpired as exc:
            raise HostError("the front-end", tool[0], "timed out after %ds" % ISO_TIMEOUT) from exc
        if proc.returncode != 0:
            first = next((ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()), "")
            raise HostError("the front-end", tool[0], first[:300], proc.returncode)
    return iso


def _create_or_resize(ctx: Context, name: str, size: int, template: str, tags: Optional[Dict[str, str]]) -> bool:
    """Create the ISO volume (True), or fit an existing one to the new ISO (False)."""
    with ctx.step("create volume %s" % name):
        try:
            volumes.create_new(ctx, name, size=size, template=template, tags=tags)
        except ApiExists:
            volumes.resize(ctx, name, size, shrink_ok=True, tags=tags,
                           no_undo="it is this VM's context volume from an earlier run, refitted and written anew")
            return False
    return True


# -- UEFI NVRAM --------------------------------------------------------------------------------------


def wants_nvram(vm: Vm) -> bool:
    """``T_OS_NVRAM="storpool..."``: the VM's UEFI variables live on StorPool."""
    return bool(vm.t_os_nvram) and str(vm.t_os_nvram).startswith("storpool")


def nvram_template(spec: str) -> Optional[str]:
    """The template name of ``T_OS_NVRAM="storpool:template=<file> [type=...]"`` (None if absent)."""
    _, _, options = spec.partition(":")
    for word in options.replace(",", " ").split():
        key, _, value = word.partition("=")
        if key == "template" and value:
            return value
    return None


def _nvram_source(ctx: Context, vm: Vm) -> Tuple[Optional[BinaryIO], int]:
    """(the opened NVRAM template, its size) when the VM's NVRAM volume must be made now;
    (None, the volume's size) when it exists.

    Runs before anything is created, so a template that is refused leaves nothing behind.
    The file is confined to OVMF_PATH by what was opened (see ``frontfiles``).
    """
    for os_section in vm.template.vectors("OS"):
        if (os_section.text("FIRMWARE_FORMAT") or "").strip().lower() == "qcow2":
            raise Unsupported("T_OS_NVRAM of VM %d: OS/FIRMWARE_FORMAT is qcow2, and OpenNebula's kvm deploy would "
                              "convert its template onto the NVRAM volume at every start; use raw" % vm.id)
    nvram_file(vm)  # a VM name that cannot name its NVRAM file is refused before anything is made
    name = ctx.names.nvram(vm.id)
    existing = uefi.volume_size(ctx, name)
    if existing is not None:
        return None, existing
    template = nvram_template(str(vm.t_os_nvram))
    with ctx.step("read the NVRAM template of VM %d" % vm.id):
        if template is None:
            raise BadInput("T_OS_NVRAM names no template (storpool:template=<file>) and %s does not exist" % name)
        handle, size, _ = frontfiles.open_confined(template, ctx.config.OVMF_PATH, "T_OS_NVRAM template")
        try:
            uefi.check_size(size, "T_OS_NVRAM template %s" % template)
        except BaseException:
            handle.close()
            raise
    return handle, size


def _nvram(ctx: Context, vm: Vm, host: str, vm_dir: str, system_ds: Datastore, source: Tuple[Optional[BinaryIO], int]) -> None:
    """Create the NVRAM volume from the template (when one is given), attach it to ``host``
    and, at a deploy, write it to the NVRAM file in the VM directory."""
    name = ctx.names.nvram(vm.id)
    template, size = source
    created = False
    if template is not None:
        tags = ctx.tags.vm_disk(vm.id, None, "NVRAM", disks.qos_context(ctx.config, vm, system_ds),
                                vm.vc_policy)
        created = volumes.create(ctx, name, size_bytes=size, template=ctx.names.template(system_ds.id), tags=tags,
                                 owner=ctx.tags.owner(vm.id, disk_type="NVRAM"))
    device = attaching.attach(ctx, name, host, undo=created)
    if created and template is not None:
        with ctx.step("write the NVRAM template to %s on %s" % (name, host)):
            ctx.host(host).run(["dd", "of=" + device, "bs=128k", "conv=notrunc,fdatasync", "status=none"],
                               stdin=template, timeout=WRITE_TIMEOUT, what="dd of=%s" % name)
    if vm.lcm_state in DEPLOYING:
        uefi.restore(ctx, host, vm, vm_dir, name, size)
    else:
        ctx.log.info("VM %d is in LCM state %d, not being deployed: its NVRAM file on %s is left as it is",
                     vm.id, vm.lcm_state, host)

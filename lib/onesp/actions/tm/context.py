"""tm context: the context ISO, built on the front-end and written to a StorPool volume.

``context <context.sh> [<file>|<file>:<name> ...] <host>:<vm dir>/disk.<n> <vm id> <system ds id>``
(variable arity: destination, VM id and datastore id are taken from the end).

The files oned lists are copied into a private staging directory — under their own base
name, or under ``<name>`` for ``<file>:<name>`` (the FILES_DS form) — and MKISOFS packs
them (volume id CONTEXT, Joliet and Rock Ridge); nothing reaches a shell, only regular
files named in the arguments are read, and a name can never leave the staging directory.
The ISO goes to ``one-sys-<vm>-<n>-iso``: created with the system datastore's template
(tags type CNTXT when TAG_CONTEXT_ISO), or resized to the new ISO when it exists (context
refresh); it is attached to the host, the ISO is streamed into the device there with dd,
and ``disk.<n>`` points at it (attached with READONLY_MODE). With FORCE_DETACH_OTHER_CONTEXT
the VM's volumes are then detached from the other hosts of its history (see
``common.release_other_hosts``; never forced).

UEFI NVRAM (``T_OS_NVRAM="storpool:template=<file>"``): ``one-sys-<vm>-NVRAM`` is created
from the template file once and attached to the host, as the addon does.

With ``INCLUDE_CONTEXT_PACKAGES`` (a number above 0, or YES, in the VM's user template) the
ISO also holds the files under CONTEXT_PACKAGES_DIR (OpenNebula's guest context packages) at
their relative paths, as the addon's rsync of ``/usr/share/one/context/*`` did; a file oned
lists under the same name wins.

Deliberately not done: http:// context files (refused). A refresh
overwrites the previous ISO in place, so its content cannot be rolled back; a re-run
rebuilds it from oned's current state.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from typing import Any, Dict, List, Optional, Set, Tuple

from ... import disks, volumes
from ...errors import BadInput, ConfigError, HostError, Unsupported
from ...host import check_path
from ...storpool import ApiExists
from ._common import attach_readonly, link_disk, release_other_hosts

SECTOR = 512
ISO_TIMEOUT = 600
WRITE_TIMEOUT = 600
_TARGET = re.compile(r"[^/\x00-\x1f\x7f]{1,255}\Z")


def run(ctx: Any) -> None:
    args = ctx.tm_args()
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
            entries += package_entries(str(ctx.config.CONTEXT_PACKAGES_DIR), {target for _, target in entries})
    name = ctx.names.context(vm.id, dst.disk_id)
    tags = None
    if ctx.config.TAG_CONTEXT_ISO:
        tags = ctx.tags.vm_disk(vm.id, dst.disk_id, "CNTXT", disks.qos_context(ctx.config, vm, system_ds),
                                vm.vc_policy)
    with tempfile.TemporaryDirectory(prefix="onesp-context-") as staging:
        iso = build_iso(ctx, entries, staging)
        size = -(-os.path.getsize(iso) // SECTOR) * SECTOR
        created = _create_or_resize(ctx, name, size, ctx.names.template(args.ds_id), tags)
        link_disk(ctx, dst.host, name, dst.path, readonly=False, system_ds=system_ds, attach_undo=created)
        with open(iso, "rb") as data, ctx.step("write the context ISO to %s on %s" % (name, dst.host)):
            ctx.host(dst.host).run(["dd", "of=" + ctx.device_path(name), "bs=1M", "conv=notrunc,fdatasync",
                                    "status=none"], stdin=data, timeout=WRITE_TIMEOUT, what="dd of=%s" % name)
    if attach_readonly(ctx, True):
        volumes.detach(ctx, name, dst.host)
        volumes.attach(ctx, name, dst.host, readonly=True)
    _nvram(ctx, vm, dst.host, system_ds)
    if ctx.config.FORCE_DETACH_OTHER_CONTEXT:
        names = [v.name for v in disks.vm_volumes(ctx.names, vm, system_on_storpool=True, include_context=False)]
        if vm.t_os_nvram and vm.t_os_nvram.startswith("storpool"):
            names.append(ctx.names.nvram(vm.id))
        release_other_hosts(ctx, vm, names + [name], dst.host)


# -- the ISO ----------------------------------------------------------------------------------------


def iso_entries(files: Tuple[str, ...]) -> List[Tuple[str, str]]:
    """(source path, name in the ISO) for each argument; refuses anything but plain files."""
    if not files:
        raise BadInput("no context files given")
    entries: List[Tuple[str, str]] = []
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
        entries.append((source, target))
    return entries


def _wants_packages(value: Optional[str]) -> bool:
    text = (value or "").strip().upper()
    return text in ("YES", "TRUE") or (text.isdigit() and int(text) > 0)


def package_entries(directory: str, taken: Set[str]) -> List[Tuple[str, str]]:
    """(source path, path in the ISO) of every regular file under ``directory`` (the
    directories below it walked, symlinked directories not), leaving out the names in ``taken``."""
    if not os.path.isdir(directory):
        raise ConfigError("CONTEXT_PACKAGES_DIR %s (INCLUDE_CONTEXT_PACKAGES) is not a directory" % directory)
    found: List[Tuple[str, str]] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            source = os.path.join(root, name)
            target = os.path.relpath(source, directory).replace(os.sep, "/")
            if os.path.isfile(source) and target not in taken:
                found.append((source, target))
    return found


def build_iso(ctx: Any, entries: List[Tuple[str, str]], staging: str) -> str:
    """Copy the entries into ``staging/files`` and pack them; returns the ISO's path."""
    tree = os.path.join(staging, "files")
    os.mkdir(tree, 0o700)
    with ctx.step("collect the context files"):
        for source, target in entries:
            try:
                if "/" in target:  # a package in a subdirectory of CONTEXT_PACKAGES_DIR
                    os.makedirs(os.path.join(tree, os.path.dirname(target)), 0o755, exist_ok=True)
                with open(source, "rb") as src, open(os.path.join(tree, target), "xb") as out:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
            except OSError as exc:
                raise BadInput("context file %s: %s" % (source, exc.strerror or exc)) from None
    iso = os.path.join(staging, "context.iso")
    tool = shlex.split(str(ctx.config.MKISOFS)) or ["genisoimage"]
    argv = tool + ["-quiet", "-o", iso, "-V", "CONTEXT", "-J", "-R", tree]
    with ctx.step("build the context ISO with %s" % tool[0]):
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=ISO_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise ConfigError("MKISOFS: %s is not installed on the front-end" % tool[0]) from None
        except subprocess.TimeoutExpired:
            raise HostError("the front-end", tool[0], "timed out after %ds" % ISO_TIMEOUT) from None
        if proc.returncode != 0:
            first = next((ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()), "")
            raise HostError("the front-end", tool[0], first[:300], proc.returncode)
    return iso


def _create_or_resize(ctx: Any, name: str, size: int, template: str, tags: Optional[Dict[str, str]]) -> bool:
    """Create the ISO volume (True), or fit an existing one to the new ISO (False)."""
    with ctx.step("create volume %s" % name):
        entry = volumes.undo_new_volume(ctx, name, tags)
        try:
            ctx.sp.volume_create(name, size=size, template=template, tags=tags)
        except ApiExists:
            ctx.undo_stack.discard(entry)
            ctx.sp.volume_update(name, size=size, shrink_ok=True, tags=tags)
            return False
    return True


# -- UEFI NVRAM --------------------------------------------------------------------------------------


def nvram_template(spec: str, ovmf_path: str) -> Optional[str]:
    """The template file of ``T_OS_NVRAM="storpool:template=<file> [type=...]"`` (None if absent);
    a relative name is looked up in ``ovmf_path`` (OVMF_PATH)."""
    _, _, options = spec.partition(":")
    for word in options.replace(",", " ").split():
        key, _, value = word.partition("=")
        if key == "template" and value:
            path = value if value.startswith("/") else os.path.join(ovmf_path, value)
            if "/../" in path + "/":
                raise BadInput("T_OS_NVRAM template %r: relative components" % value)
            return path
    return None


def _nvram(ctx: Any, vm: Any, host: str, system_ds: Any) -> None:
    spec = vm.t_os_nvram
    if not spec or not spec.startswith("storpool"):
        return
    name = ctx.names.nvram(vm.id)
    template = nvram_template(spec, str(ctx.config.OVMF_PATH))
    created = False
    if template and os.path.isfile(template):
        size = max(SECTOR, -(-os.path.getsize(template) // SECTOR) * SECTOR)
        tags = ctx.tags.vm_disk(vm.id, None, "NVRAM", disks.qos_context(ctx.config, vm, system_ds),
                                vm.vc_policy)
        created = volumes.create(ctx, name, size_bytes=size, template=ctx.names.template(system_ds.id), tags=tags,
                                 owner={ctx.tags.vm_key: str(vm.id), "type": "NVRAM"})
    elif ctx.sp.volume_or_none(name) is None:
        with ctx.step("create UEFI NVRAM %s" % name):
            raise ConfigError("T_OS_NVRAM of VM %d: template %s not found on the front-end" % (vm.id, template))
    device = volumes.attach(ctx, name, host, undo=created)
    if created:
        with open(template, "rb") as data, ctx.step("write the NVRAM template to %s on %s" % (name, host)):
            ctx.host(host).run(["dd", "of=" + device, "bs=128k", "conv=notrunc,fdatasync", "status=none"],
                               stdin=data, timeout=WRITE_TIMEOUT, what="dd of=%s" % name)

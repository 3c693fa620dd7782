"""vmm deploy: the stock kvm deploy on the host, with the VM's persistent CD-ROM trays added.

``deploy.storpool <local deployment file> <host> <vm id> <host>`` (VM_MAD ``-l
deploy=deploy.storpool``), the deployment XML base64 on stdin. Declared local, the deploy
runs on the front-end, and oned's driver has also written the VM's ``vm.xml`` and ``ds.xml``
next to the local deployment file instead of into the VM directory on the host (both
base64, as a local command's stdin is). So this action:

1. reads the VM from that ``vm.xml`` (from oned when there is none) and, if it asks for
   ``T_PERSISTENT_CDROM`` trays, adds them to the deployment XML (``trays``); a VM that
   asks for none is deployed with the XML exactly as oned wrote it;
2. writes ``vm.xml`` and ``ds.xml`` as plain XML into the VM directory on the host, where
   the stock deploy reads them (vTPM state, vGPU), as a remote deploy would have found them;
3. runs the stock ``deploy`` there with the host's deployment file path (the VM directory
   oned named in the XML's ``one:system_datastore`` metadata) and the XML on stdin, and
   prints what it prints (the domain id oned records).

A bad ``T_PERSISTENT_CDROM`` fails the deploy before the host is touched.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from ...one import decode_vm_document
from ...one.xmlsafe import MAX_DOCUMENT_BYTES
from ...runtime.arguments import parse_id
from ...runtime.errors import BadInput
from ...runtime.hostexec import check_host, check_path
from . import _stock as stock
from . import _trays as trays
from ._document import plain_xml

if TYPE_CHECKING:
    from ...one import Vm
    from ...runtime.actioncontext import Context

_DEPLOYMENT = re.compile(r"deployment\.\d{1,9}\Z")
#: What oned writes beside the deployment file for the stock deploy to read on the host.
_BESIDE = ("vm.xml", "ds.xml")


@dataclass(frozen=True)
class DeployArgs:
    deployment: str  # the deployment file on the front-end
    host: str
    vm_id: int


def deploy_args(argv: Sequence[str]) -> DeployArgs:
    if len(argv) not in (3, 4):
        raise BadInput("deploy takes 4 arguments (deployment file, host, VM id, host), got %d" % len(argv))
    path = check_path(argv[0])
    if not _DEPLOYMENT.match(posixpath.basename(path)):
        raise BadInput("invalid deployment file name %r" % (argv[0],))
    host = check_host(argv[1])
    if len(argv) == 4 and check_host(argv[3]) != host:
        raise BadInput("deploy: host %r and %r differ" % (argv[1], argv[3]))
    return DeployArgs(path, host, parse_id(argv[2], "VM id"))


def run(ctx: Context) -> str:
    args = deploy_args(ctx.argv)
    with ctx.step("read the deployment file"):
        domain = plain_xml(ctx.stdin, "deployment file") or plain_xml(_read(args.deployment), "deployment file")
        if not domain:
            raise BadInput("the deployment file %s is empty" % args.deployment)
    beside = _beside(os.path.dirname(args.deployment))
    vm = _vm(ctx, args.vm_id, beside)
    count = trays.wanted(vm, str(ctx.config.T_PERSISTENT_CDROM or ""))
    vm_dir = check_path(trays.system_dir(domain))
    if count:
        with ctx.step("add %d CD-ROM tray(s) to the deployment of VM %d" % (count, vm.id)):
            domain, added = trays.add_trays(domain, count)
        ctx.log.info("VM %d: empty CD-ROM trays %s (T_PERSISTENT_CDROM=%d)", vm.id, ", ".join(added) or "none free", count)
    node = ctx.host(args.host)
    for name, data in beside:
        with ctx.step("write %s of VM %d on %s" % (name, vm.id, args.host)):
            node.write_file(posixpath.join(vm_dir, name), data)
    remote = posixpath.join(vm_dir, posixpath.basename(args.deployment))
    out = stock.run(ctx, args.host, "deploy", [remote, args.host, str(args.vm_id), args.host], domain)
    return out.strip()


def _read(path: str) -> bytes:
    """A front-end file oned wrote, read through the descriptor that was checked (no symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise BadInput("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BadInput("%s is not a regular file" % path)
        data = handle.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise BadInput("%s is over %d bytes" % (path, MAX_DOCUMENT_BYTES))
    return data


def _beside(directory: str) -> List[Tuple[str, bytes]]:
    """``vm.xml`` and ``ds.xml`` next to the local deployment file, as plain XML (absent ones left out)."""
    found = []
    for name in _BESIDE:
        path = os.path.join(directory, name)
        if os.path.lexists(path):
            data = plain_xml(_read(path), name)
            if data:
                found.append((name, data))
    return found


def _vm(ctx: Context, vm_id: int, beside: List[Tuple[str, bytes]]) -> Vm:
    document: Optional[bytes] = dict(beside).get("vm.xml")
    if document is None:
        with ctx.step("read VM %d from oned" % vm_id):
            return ctx.one.vm(vm_id)
    with ctx.step("read vm.xml of VM %d" % vm_id):
        vm = decode_vm_document(document)
    if vm.id != vm_id:
        raise BadInput("vm.xml beside the deployment file describes VM %d, not VM %d" % (vm.id, vm_id))
    return vm

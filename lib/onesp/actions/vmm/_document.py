"""What a VMM helper knows about its VM: the driver action on stdin, else oned's documents.

oned hands a local VMM action the base64 ``VMM_DRIVER_ACTION_DATA`` (the VM and its system
datastore) on stdin; some 6.x releases give snapshot_create nothing. With the document on
stdin no XML-RPC call is needed; without it the VM and the system datastore are read from
oned (one call each). Either way the system datastore configures the action (API endpoint,
VMSNAPSHOT_LIMIT), and the plain XML is kept for the stock kvm scripts, which read it on
their stdin when oned runs them on a host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from ...one import decode_base64, decode_vmm_action
from ...one.xmlsafe import looks_like_xml
from ...runtime.errors import BadInput

if TYPE_CHECKING:
    from ...one import Datastore, Vm
    from ...runtime.actioncontext import Context


@dataclass(frozen=True)
class VmmInput:
    vm: Vm  # one.Vm
    system_ds: Datastore  # one.Datastore of the VM's current system datastore
    document: bytes  # plain VMM_DRIVER_ACTION_DATA as received; b"" when oned sent none


def plain_xml(data: Union[bytes, str], what: str = "VMM driver action") -> bytes:
    """The XML of a driver action given as base64 (as oned sends it) or as XML; empty stays empty."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    if not raw.strip():
        return b""
    if looks_like_xml(raw):
        return raw.strip()
    return decode_base64(raw, what=what)


def load(ctx: Context, vm_id: int) -> VmmInput:
    """The VM ``vm_id`` and its system datastore, applied to ``ctx``'s configuration."""
    with ctx.step("decode the driver action"):
        document = plain_xml(ctx.stdin)
        action = decode_vmm_action(document) if document else None
    if action is not None:
        vm = action.vm
        if vm.id != vm_id:
            raise BadInput("the driver action on stdin describes VM %d, not VM %d" % (vm.id, vm_id))
        ctx.one.remember(vm)
        datastore = action.datastore
    else:
        with ctx.step("read VM %d from oned" % vm_id):
            vm = ctx.one.vm(vm_id)
        datastore = None
    if datastore is None:
        if vm.system_ds_id is None:
            raise BadInput("VM %d has no history record, so no system datastore" % vm.id)
        with ctx.step("read system datastore %d from oned" % vm.system_ds_id):
            datastore = ctx.one.datastore(vm.system_ds_id)
    ctx.use_datastore(datastore)
    return VmmInput(vm, datastore, document)

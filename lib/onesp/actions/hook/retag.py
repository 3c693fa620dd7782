"""hook retag: the ``one.vm.update`` API hook; sets the ``qc``/``vc-policy`` tags of that VM's volumes.

oned's hook manager hands an API hook its ``$API`` argument: the request's ``<CALL_INFO>``
element (RESULT, then each PARAMETER with POSITION, TYPE and VALUE), base64-encoded, on stdin
with ``ARGUMENTS_STDIN=YES`` (as ``hooks/storpool/retag.hook`` registers it) or as the first
argument otherwise. For ``one.vm.update`` the IN parameter at POSITION 2 is the VM id
(position 1 is the session, shown as ``****``). The hook fires for failed calls too
(RESULT 0): then oned changed nothing and neither does this.

The work is ``retag.Retagger.vm``: one ``Volume`` read per volume of the VM, one
``VolumeUpdate`` per volume whose tags change; it prints one line per changed tag, which
oned keeps in the hook's execution log (``onehook show -x``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...one.xmlsafe import decode_base64, looks_like_xml, parse_xml
from ...runtime.arguments import parse_id
from ...runtime.errors import BackendError, BadInput
from ...runtime.retagger import Retagger

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context

#: The API calls whose POSITION 2 parameter is the id of the VM to retag.
VM_CALLS = ("one.vm.update",)


def vm_id_of(argument: bytes) -> "tuple[bool, int]":
    """(call succeeded, VM id) from the ``$API`` argument (base64, or the XML itself)."""
    raw = argument.strip()
    if not raw:
        raise BadInput("no $API argument on stdin or the command line (register the hook with ARGUMENTS=\"$API\")")
    xml = raw if looks_like_xml(raw) else decode_base64(raw, what="$API argument")
    root = parse_xml(xml, what="$API argument")
    info = root if root.tag == "CALL_INFO" else root.find("CALL_INFO")
    if info is None:
        raise BadInput("$API argument: expected a <CALL_INFO> document, got <%s>" % root.tag)
    if root.tag == "HOOK_MESSAGE" and (root.findtext("CALL") or "").strip() not in VM_CALLS:
        raise BadInput("$API argument is about %s, not one.vm.update" % (root.findtext("CALL") or "no call"))
    success = (info.findtext("RESULT") or "").strip() == "1"
    for parameter in info.iterfind("PARAMETERS/PARAMETER"):
        if (parameter.findtext("TYPE") or "").strip() == "IN" and (parameter.findtext("POSITION") or "").strip() == "2":
            return success, parse_id((parameter.findtext("VALUE") or "").strip(), "VM id in the $API argument")
    raise BadInput("$API argument has no IN parameter at POSITION 2 (the VM id)")


def run(ctx: Context) -> str:
    argument = ctx.argv[0].encode("ascii", "replace") if ctx.argv else ctx.stdin
    success, vm_id = vm_id_of(argument)
    if not success:
        return ""
    outcome = Retagger(ctx).vm(vm_id)
    if outcome.failed:
        raise BackendError(outcome.failed[0])
    return "\n".join("VM %d: %s %s: %s -> %s" % (vm_id, c.volume, c.tag, c.old or "(none)", c.new or "(none)")
                     for c in outcome.changes)

"""Decoding what oned hands an action on stdin (or, before 6.8, in argv).

* DS actions and the system-DS TM ``monitor``: base64 ``DS_DRIVER_ACTION_DATA``.
* premigrate / postmigrate / failmigrate: the base64 ``VM`` document.
* prebackup / postbackup: the plain ``VM`` XML.
* VMM local actions (tmsave, attach_disk...): base64 ``VMM_DRIVER_ACTION_DATA``.

Every decoder accepts either form (base64 never contains ``<``, XML always
starts with it), so a document captured from a log can be replayed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from lxml import etree

from ..runtime.errors import BadInput
from .datastore import Datastore
from .fields import Fields
from .image import Image
from .template import Template
from .vm import Vm
from .xmlsafe import MAX_DOCUMENT_BYTES, decode_base64, looks_like_xml, parse_xml

_DS_ACTION = "DS_DRIVER_ACTION_DATA"
_VMM_ACTION = "VMM_DRIVER_ACTION_DATA"


def _document(data: Union[bytes, str], what: str, root: str, max_bytes: int) -> etree._Element:
    if not looks_like_xml(data):
        data = decode_base64(data, what=what, max_bytes=max_bytes)
    return parse_xml(data, what=what, root=root, max_bytes=max_bytes)


@dataclass(frozen=True)
class DriverAction:
    """``DS_DRIVER_ACTION_DATA``: the image (absent for monitor; a PATH-only stub for
    stat), the datastore (secrets decrypted), and per-action extras."""

    image: Optional[Image]
    image_path: Optional[str]
    datastore: Datastore
    monitor_vm_disks: Optional[bool]
    datastore_location: Optional[str]
    destination_ds_id: Optional[int]
    marketplace: Optional[Template]
    extras: Template

    @classmethod
    def from_xml(cls, element: etree._Element) -> "DriverAction":
        f = Fields(element, _DS_ACTION)
        image_el = f.child("IMAGE")
        image = None
        image_path = None
        if image_el is not None:
            image_path = Fields(image_el, _DS_ACTION + "/IMAGE").opt_str("PATH")
            if image_el.find("ID") is not None:
                image = Image.from_xml(image_el)
        market_el = f.child("MARKETPLACE")
        return cls(
            image=image,
            image_path=image_path,
            datastore=Datastore.from_xml(f.require_child("DATASTORE")),
            monitor_vm_disks=f.opt_flag("MONITOR_VM_DISKS"),
            datastore_location=f.opt_str("DATASTORE_LOCATION"),
            destination_ds_id=f.opt_int("DESTINATION_DS_ID"),
            marketplace=Template.from_xml(market_el, _DS_ACTION + "/MARKETPLACE") if market_el is not None else None,
            extras=Template.from_xml(element, _DS_ACTION, skip=("IMAGE", "DATASTORE")),
        )

    def require_image(self) -> Image:
        """The full image document; BadInput when oned sent none (monitor) or a stub (stat)."""
        if self.image is None:
            raise BadInput("%s/IMAGE is missing or has no ID" % _DS_ACTION)
        return self.image


@dataclass(frozen=True)
class VmmDriverAction:
    """``VMM_DRIVER_ACTION_DATA`` as VMM local actions receive it."""

    host: Optional[str]
    migr_host: Optional[str]
    deploy_id: Optional[str]
    local_deployment_file: Optional[str]
    remote_deployment_file: Optional[str]
    checkpoint_file: Optional[str]
    tm_command: Optional[str]
    tm_command_rollback: Optional[str]
    disk_target_path: Optional[str]
    vm: Vm
    datastore: Optional[Datastore]  # the VM's system datastore
    extras: Template

    @classmethod
    def from_xml(cls, element: etree._Element) -> "VmmDriverAction":
        f = Fields(element, _VMM_ACTION)
        ds_el = f.child("DATASTORE")
        return cls(
            host=f.opt_str("HOST"),
            migr_host=f.opt_str("MIGR_HOST"),
            deploy_id=f.opt_str("DEPLOY_ID"),
            local_deployment_file=f.opt_str("LOCAL_DEPLOYMENT_FILE"),
            remote_deployment_file=f.opt_str("REMOTE_DEPLOYMENT_FILE"),
            checkpoint_file=f.opt_str("CHECKPOINT_FILE"),
            tm_command=f.opt_str("TM_COMMAND"),
            tm_command_rollback=f.opt_str("TM_COMMAND_ROLLBACK"),
            disk_target_path=f.opt_str("DISK_TARGET_PATH"),
            vm=Vm.from_xml(f.require_child("VM")),
            datastore=Datastore.from_xml(ds_el) if ds_el is not None else None,
            extras=Template.from_xml(element, _VMM_ACTION, skip=("VM", "DATASTORE")),
        )


def decode_driver_action(data: Union[bytes, str], *, max_bytes: int = MAX_DOCUMENT_BYTES) -> DriverAction:
    """Decode a DS driver action (base64 as oned sends it, or plain XML)."""
    root = _document(data, "driver action", _DS_ACTION, max_bytes)
    return DriverAction.from_xml(root)


def decode_vm_document(data: Union[bytes, str], *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Vm:
    """Decode the VM document migrate hooks (base64) and backup hooks (plain XML) get."""
    root = _document(data, "VM document", "VM", max_bytes)
    return Vm.from_xml(root)


def decode_vmm_action(data: Union[bytes, str], *, max_bytes: int = MAX_DOCUMENT_BYTES) -> VmmDriverAction:
    """Decode a VMM driver action (base64 or plain XML)."""
    root = _document(data, "VMM driver action", _VMM_ACTION, max_bytes)
    return VmmDriverAction.from_xml(root)

"""Everything onesp learns from oned: decoded driver input, typed views, the XML-RPC client.

Actions import from here only; nothing below runs XPath on their behalf at
call sites. None of it pulls in click, http.server, sqlite3 or (until the first
call to oned) xmlrpc.client.

Each name is loaded from its module on first use (``__getattr__``): an action started
by oned pays only for the views it reads (tm clone never builds the driver-action
decoder, the image or the hook view).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .action import DriverAction, VmmDriverAction, decode_driver_action, decode_vm_document, decode_vmm_action
    from .datastore import Datastore
    from .disk import Disk, DiskSnapshot
    from .endpoint import resolve_endpoint, resolve_session, resolve_timeout
    from .host import Host
    from .image import Image
    from .rpc import OneClient, OnedError, OnedLocked, OnedNotFound
    from .template import Template, render_template
    from .vm import BackupConfig, History, Vm, VmSnapshot
    from .xmlsafe import MAX_DOCUMENT_BYTES, MAX_POOL_BYTES, decode_base64, parse_xml

#: The module (in this package) that defines each public name.
_HOMES = {
    "action": ("DriverAction", "VmmDriverAction", "decode_driver_action", "decode_vm_document", "decode_vmm_action"),
    "datastore": ("Datastore",),
    "disk": ("Disk", "DiskSnapshot"),
    "endpoint": ("resolve_endpoint", "resolve_session", "resolve_timeout"),
    "host": ("Host",),
    "image": ("Image",),
    "rpc": ("OneClient", "OnedError", "OnedLocked", "OnedNotFound"),
    "template": ("Template", "render_template"),
    "vm": ("BackupConfig", "History", "Vm", "VmSnapshot"),
    "xmlsafe": ("MAX_DOCUMENT_BYTES", "MAX_POOL_BYTES", "decode_base64", "parse_xml"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BackupConfig", "Datastore", "Disk", "DiskSnapshot", "DriverAction", "History", "Host", "Image",
    "MAX_DOCUMENT_BYTES", "MAX_POOL_BYTES", "OneClient", "OnedError", "OnedLocked", "OnedNotFound",
    "Template", "Vm", "VmSnapshot", "VmmDriverAction", "decode_base64", "decode_driver_action",
    "decode_vm_document", "decode_vmm_action", "parse_xml", "render_template", "resolve_endpoint",
    "resolve_session", "resolve_timeout",
]


def __getattr__(name: str) -> object:
    """``onesp.one.<name>``: imports the defining module the first time the name is asked for."""
    module = _HOME.get(name)
    if module is None:  # also how ``from onesp.one import xmlsafe`` finds its way to the submodule
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(import_module("." + module, __name__), name)
    globals()[name] = value
    return value

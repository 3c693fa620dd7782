"""Everything onesp learns from oned: decoded driver input, typed views, the XML-RPC client.

Actions import from here only; nothing below runs XPath on their behalf at
call sites. Importing this package pulls in lxml but not click, http.server,
sqlite3 or (until the first call) xmlrpc.client.
"""

from __future__ import annotations

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

__all__ = [
    "BackupConfig", "Datastore", "Disk", "DiskSnapshot", "DriverAction", "History", "Host", "Image",
    "MAX_DOCUMENT_BYTES", "MAX_POOL_BYTES", "OneClient", "OnedError", "OnedLocked", "OnedNotFound",
    "Template", "Vm", "VmSnapshot", "VmmDriverAction", "decode_base64", "decode_driver_action",
    "decode_vm_document", "decode_vmm_action", "parse_xml", "render_template", "resolve_endpoint",
    "resolve_session", "resolve_timeout",
]

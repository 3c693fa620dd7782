"""Pool answers: which objects a pool call returns, and the short VM body of ``one.vmpool.info``.

The session user of the stand-in is uid 0 / gid 0 (oneadmin), so the
"mine" and "my group" filters select objects owned by uid 0 or gid 0.
"""

from __future__ import annotations

from typing import Iterable, List

from lxml import etree

from .builders.xml import at_least

_DONE = 6


def _int(element: etree._Element, tag: str, default: int = -1) -> int:
    text = (element.findtext(tag) or "").strip()
    try:
        return int(text)
    except ValueError:
        return default


def owner_matches(element: etree._Element, filter_flag: int) -> bool:
    """oned's filter flag: -2 all, -1 mine or my group, -3 mine, -4 my group, >=0 that uid."""
    uid, gid = _int(element, "UID"), _int(element, "GID")
    if filter_flag == -2:
        return True
    if filter_flag == -1:
        return uid == 0 or gid == 0
    if filter_flag == -3:
        return uid == 0
    if filter_flag == -4:
        return gid == 0
    return uid == filter_flag


def select_ids(ids: Iterable[int], start: int, end: int) -> List[int]:
    """Id range ``start..end`` (-1 = unbounded); ``end < -1`` means a page of ``-end``
    objects starting at offset ``start`` (oned's pagination form)."""
    ordered = sorted(ids)
    if end < -1:
        offset = max(start, 0)
        return ordered[offset:offset - end]
    return [i for i in ordered if (start < 0 or i >= start) and (end < 0 or i <= end)]


def vm_state_matches(element: etree._Element, state: int) -> bool:
    """-2 any state, -1 any but DONE, otherwise that STATE."""
    current = _int(element, "STATE")
    if state == -2:
        return True
    if state == -1:
        return current != _DONE
    return current == state


_SHORT_TOP = ("ID", "UID", "GID", "UNAME", "GNAME", "NAME", "LAST_POLL", "STATE", "LCM_STATE",
              "RESCHED", "STIME", "ETIME", "DEPLOY_ID")
_SHORT_TEMPLATE = ("CPU", "MEMORY", "VCPU", "DISK", "NIC", "GRAPHICS")
_SHORT_HISTORY = ("OID", "SEQ", "HOSTNAME", "HID", "CID", "DS_ID", "VM_MAD", "TM_MAD", "ACTION")


def _copy_text(source: etree._Element, target: etree._Element, tag: str, default: str = "0") -> None:
    found = source.find(tag)
    etree.SubElement(target, tag).text = found.text if found is not None and found.text is not None else default


def short_vm(full: etree._Element, version: str = "7.0") -> etree._Element:
    """The body ``one.vmpool.info`` gives for a VM (``vm_pool.xsd``), cut from the full document;
    OpenNebula 7.4 added the VM's LOCK to it."""
    vm = etree.Element("VM")
    for tag in _SHORT_TOP:
        _copy_text(full, vm, tag, "" if tag in ("UNAME", "GNAME", "NAME", "DEPLOY_ID") else "0")
    lock = full.find("LOCK")
    if lock is not None and at_least(version, "7.4"):
        vm.append(_deep_copy(lock))
    template = etree.SubElement(vm, "TEMPLATE")
    full_template = full.find("TEMPLATE")
    if full_template is not None:
        for tag in _SHORT_TEMPLATE:
            for node in full_template.findall(tag):
                template.append(_deep_copy(node))
    monitoring = full.find("MONITORING")
    if monitoring is not None:
        vm.append(_deep_copy(monitoring))
    user = full.find("USER_TEMPLATE")
    vm.append(_deep_copy(user) if user is not None else etree.Element("USER_TEMPLATE"))
    records = etree.SubElement(vm, "HISTORY_RECORDS")
    full_records = full.find("HISTORY_RECORDS")
    if full_records is not None:
        for history in full_records.findall("HISTORY"):
            short = etree.SubElement(records, "HISTORY")
            for tag in _SHORT_HISTORY:
                _copy_text(history, short, tag, "" if tag in ("HOSTNAME", "VM_MAD", "TM_MAD") else "0")
    return vm


def _deep_copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def pool_document(root: str, members: Iterable[etree._Element]) -> str:
    pool = etree.Element(root)
    for member in members:
        pool.append(member)
    return etree.tostring(pool, encoding="unicode")


"""Image, datastore and host documents, and the driver-action envelopes around them."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Union

from lxml import etree

from .vmdoc import DEFAULT_TIME, SnapshotSpec, add_snapshot
from .xml import add, add_ids, add_template, at_least, owned_root, parse_fragment, serialize, text_of

IMAGE_TYPE_IDS = {"OS": 0, "CDROM": 1, "DATABLOCK": 2, "KERNEL": 3, "RAMDISK": 4, "CONTEXT": 5, "BACKUP": 6}
DATASTORE_KINDS = {"IMAGE": (0, "IMAGE_DS"), "SYSTEM": (1, "SYSTEM_DS"), "FILE": (2, "FILE_DS")}


def image_xml(image_id: int, *, name: Optional[str] = None, type: Union[str, int] = "OS",
              persistent: bool = False, source: Optional[str] = None, path: str = "", format: str = "raw",
              fs: str = "", size: int = 2048, state: int = 1, datastore_id: int = 100,
              datastore: str = "sp-images", uid: int = 0, gid: int = 0, uname: str = "oneadmin",
              gname: str = "oneadmin", vms: Sequence[int] = (), cloning_id: int = -1,
              target_snapshot: int = -1, template: Optional[Mapping[str, Any]] = None,
              snapshots: Sequence[SnapshotSpec] = (), disk_type: int = 2, version: str = "7.0") -> str:
    """An image. ``source=None`` gives ``one-ds-<ds>/one-img-<id>``; pass '' for one not yet copied."""
    root = owned_root("IMAGE", image_id, name or "image-%d" % image_id, uid, gid, uname, gname)
    add(root, "TYPE", IMAGE_TYPE_IDS[type] if isinstance(type, str) else type)
    add(root, "DISK_TYPE", disk_type)
    add(root, "PERSISTENT", 1 if persistent else 0)
    add(root, "REGTIME", DEFAULT_TIME)
    if not version.startswith("6."):
        add(root, "MODTIME", DEFAULT_TIME)
    add(root, "SOURCE", source if source is not None else "one-ds-%d/one-img-%d" % (datastore_id, image_id))
    add(root, "PATH", path)
    add(root, "FORMAT", format)
    add(root, "FS", fs)
    add(root, "SIZE", size)
    add(root, "STATE", state)
    add(root, "PREV_STATE", 1)
    add(root, "RUNNING_VMS", len(vms))
    add(root, "CLONING_OPS", 0)
    add(root, "CLONING_ID", cloning_id)
    add(root, "TARGET_SNAPSHOT", target_snapshot)
    add(root, "DATASTORE_ID", datastore_id)
    add(root, "DATASTORE", datastore, cdata=False)
    add_ids(root, "VMS", vms)
    add_ids(root, "CLONES", ())
    add_ids(root, "APP_CLONES", ())
    attributes: Dict[str, Any] = {"DEV_PREFIX": "vd"}
    attributes.update(template or {})
    add_template(root, "TEMPLATE", attributes)
    holder = etree.SubElement(root, "SNAPSHOTS")
    add(holder, "ALLOW_ORPHANS", "YES")
    add(holder, "CURRENT_BASE", -1, cdata=False)
    add(holder, "NEXT_SNAPSHOT", str(max([s.id for s in snapshots] + [-1]) + 1))
    for snap in snapshots:
        add_snapshot(holder, snap, children_first=True)
    etree.SubElement(root, "BACKUP_INCREMENTS")
    add_ids(root, "BACKUP_DISK_IDS", ())
    return serialize(root)


def datastore_xml(ds_id: int, *, name: Optional[str] = None, kind: str = "IMAGE", ds_mad: Optional[str] = None,
                  tm_mad: str = "storpool", bridge_list: Sequence[str] = ("node1", "node2"),
                  shared: Optional[bool] = None, sp: Optional[Mapping[str, Any]] = None,
                  template: Optional[Mapping[str, Any]] = None, cluster_ids: Sequence[int] = (0,),
                  images: Sequence[int] = (), total_mb: int = 4194304, free_mb: int = 3670016,
                  state: int = 0, location: str = "/var/lib/one//datastores", version: str = "7.0") -> str:
    """An IMAGE, SYSTEM or FILE datastore with the template attributes oned adds (a system
    datastore of ``version`` 7.2 or later also DS_LIVE_MIGRATE and DS_MIGRATE_SNAP, copied
    from onesp's TM_MAD_CONF).

    ``sp`` holds StorPool attributes; keys may omit the ``SP_`` prefix
    (``sp={"QOSCLASS": "gold"}`` writes SP_QOSCLASS).
    """
    type_id, type_name = DATASTORE_KINDS[kind]
    system = kind == "SYSTEM"
    ds_mad = ds_mad if ds_mad is not None else ("-" if system else "storpool")
    root = owned_root("DATASTORE", ds_id, name or "sp-%s-%d" % (kind.lower(), ds_id))
    add(root, "DS_MAD", ds_mad)
    add(root, "TM_MAD", tm_mad)
    add(root, "BASE_PATH", "%s/%d" % (location, ds_id))
    add(root, "TYPE", type_id)
    disk_type = str((template or {}).get("DISK_TYPE", "FILE" if system else "BLOCK")).upper()
    add(root, "DISK_TYPE", {"FILE": 0, "CD_ROM": 1, "BLOCK": 2, "RBD": 3}.get(disk_type, 0))
    add(root, "STATE", state)
    add_ids(root, "CLUSTERS", cluster_ids)
    add(root, "TOTAL_MB", total_mb)
    add(root, "FREE_MB", free_mb)
    add(root, "USED_MB", total_mb - free_mb)
    add_ids(root, "IMAGES", images)
    attributes: Dict[str, Any] = {
        "ALLOW_ORPHANS": "YES",
        "DISK_TYPE": "FILE" if system else "BLOCK",
        "PERSISTENT_SNAPSHOTS": "YES",
        "RESTRICTED_DIRS": "/",
        "SAFE_DIRS": "/var/tmp",
        "TM_MAD": tm_mad,
        "TYPE": type_name,
    }
    if bridge_list:
        attributes["BRIDGE_LIST"] = " ".join(bridge_list)
    if system:
        attributes["SHARED"] = text_of(True if shared is None else shared)
        attributes["DS_MIGRATE"] = "YES"
        if at_least(version, "7.2"):
            attributes.update({"DS_LIVE_MIGRATE": "YES", "DS_MIGRATE_SNAP": "YES"})
    else:
        attributes.update({"DS_MAD": ds_mad, "CLONE_TARGET": "SELF", "LN_TARGET": "NONE", "DRIVER": "raw"})
        if shared is not None:
            attributes["SHARED"] = text_of(shared)
    for key, value in (sp or {}).items():
        attributes[key if key.startswith("SP_") else "SP_" + key] = text_of(value)
    attributes.update(template or {})
    add_template(root, "TEMPLATE", attributes)
    return serialize(root)


def host_xml(host_id: int, name: str, *, sp_ourid: Optional[int] = None, state: int = 2, cluster_id: int = 0,
             cluster: str = "default", vms: Sequence[int] = (), template: Optional[Mapping[str, Any]] = None) -> str:
    """A KVM host; ``sp_ourid`` sets TEMPLATE/SP_OURID (the StorPool client id)."""
    root = etree.Element("HOST")
    add(root, "ID", host_id)
    add(root, "NAME", name, cdata=False)
    add(root, "STATE", state)
    add(root, "PREV_STATE", state)
    add(root, "IM_MAD", "kvm")
    add(root, "VM_MAD", "kvm")
    add(root, "CLUSTER_ID", cluster_id)
    add(root, "CLUSTER", cluster, cdata=False)
    share = etree.SubElement(root, "HOST_SHARE")
    for tag, value in (("MEM_USAGE", 0), ("CPU_USAGE", 0), ("TOTAL_MEM", 16777216), ("TOTAL_CPU", 800),
                       ("MAX_MEM", 16777216), ("MAX_CPU", 800), ("RUNNING_VMS", len(vms)), ("VMS_THREAD", 1)):
        add(share, tag, value)
    datastores = etree.SubElement(share, "DATASTORES")
    for tag in ("DISK_USAGE", "FREE_DISK", "MAX_DISK", "USED_DISK"):
        add(datastores, tag, 0)
    etree.SubElement(share, "PCI_DEVICES")
    etree.SubElement(share, "NUMA_NODES")
    add_ids(root, "VMS", vms)
    attributes: Dict[str, Any] = {"ARCH": "x86_64", "HOSTNAME": name, "HYPERVISOR": "kvm"}
    if sp_ourid is not None:
        attributes["SP_OURID"] = str(sp_ourid)
    attributes.update(template or {})
    add_template(root, "TEMPLATE", attributes)
    monitoring = etree.SubElement(root, "MONITORING")
    add(monitoring, "TIMESTAMP", DEFAULT_TIME)
    add(monitoring, "ID", host_id)
    return serialize(root)


def hook_xml(hook_id: int, name: str, *, type: str = "api", command: str = "storpool/retag",
             template: Optional[Mapping[str, Any]] = None) -> str:
    """A hook as ``one.hookpool.info`` lists it (``hook.xsd``): an API hook on one.vm.update by default."""
    root = etree.Element("HOOK")
    add(root, "ID", hook_id)
    add(root, "NAME", name, cdata=False)
    add(root, "TYPE", type, cdata=False)
    attributes: Dict[str, Any] = {"COMMAND": command}
    if type == "api":
        attributes.update({"ARGUMENTS": "$API", "ARGUMENTS_STDIN": "YES", "CALL": "one.vm.update"})
    attributes.update(template or {})
    add_template(root, "TEMPLATE", attributes)
    return serialize(root)


def ds_driver_action_xml(datastore: str, image: Optional[str] = None, *, image_path: Optional[str] = None,
                         monitor_vm_disks: Optional[bool] = None, datastore_location: Optional[str] = None,
                         extras: Optional[Mapping[str, Any]] = None) -> str:
    """``DS_DRIVER_ACTION_DATA`` around a datastore document and an optional image document.

    ``image_path`` without ``image`` gives the stub ``stat`` receives
    (``<IMAGE><PATH>...</PATH></IMAGE>``). ``extras`` are further children.
    """
    root = etree.Element("DS_DRIVER_ACTION_DATA")
    if image is not None:
        root.append(parse_fragment(image))
    elif image_path is not None:
        add(etree.SubElement(root, "IMAGE"), "PATH", image_path)
    root.append(parse_fragment(datastore))
    if datastore_location is not None:
        add(root, "DATASTORE_LOCATION", datastore_location, cdata=False)
    if monitor_vm_disks is not None:
        add(root, "MONITOR_VM_DISKS", 1 if monitor_vm_disks else 0)
    for key, value in (extras or {}).items():
        if isinstance(value, Mapping):
            add_template(root, key, value)
        else:
            add(root, key, text_of(value))
    return serialize(root)


def vmm_driver_action_xml(vm: str, *, host: str = "node1", datastore: Optional[str] = None,
                          deploy_id: Optional[str] = None, migr_host: Optional[str] = None,
                          tm_command: Optional[str] = None, tm_command_rollback: Optional[str] = None,
                          checkpoint_file: Optional[str] = None, disk_target_path: Optional[str] = None) -> str:
    """``VMM_DRIVER_ACTION_DATA`` around a VM document (and the VM's system datastore)."""
    root = etree.Element("VMM_DRIVER_ACTION_DATA")
    vm_element = parse_fragment(vm)
    for tag, value in (("HOST", host), ("MIGR_HOST", migr_host),
                       ("DEPLOY_ID", deploy_id if deploy_id is not None else vm_element.findtext("DEPLOY_ID")),
                       ("CHECKPOINT_FILE", checkpoint_file), ("TM_COMMAND", tm_command),
                       ("TM_COMMAND_ROLLBACK", tm_command_rollback), ("DISK_TARGET_PATH", disk_target_path)):
        if value is not None:
            add(root, tag, value)
    root.append(vm_element)
    if datastore is not None:
        root.append(parse_fragment(datastore))
    return serialize(root)

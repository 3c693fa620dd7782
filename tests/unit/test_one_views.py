"""Typed views over oned documents: the authored samples, builder documents, bad values."""

from __future__ import annotations

import pytest
from fixtures.sim_oned import authored_sample

from onesp.one import Datastore, Host, Image, Vm, decode_driver_action, parse_xml
from onesp.runtime.errors import BadInput, NotFound
from onesp.sim.oned.builders import (
    cdrom_disk,
    datastore_xml,
    disk_snapshot,
    ds_driver_action_xml,
    history,
    host_xml,
    image_disk,
    image_xml,
    vm_snapshot,
    vm_xml,
    volatile_disk,
)


def sample(name: str) -> str:
    return authored_sample(name)


def vm_of(text: str) -> Vm:
    return Vm.from_xml(parse_xml(text))


# -- authored samples --------------------------------------------------------------------------


def test_sample_vm():
    vm = vm_of(sample("vm-running-2disks-context.xml"))
    assert (vm.id, vm.name, vm.uid, vm.gid, vm.state, vm.lcm_state, vm.prev_state) == (42, "web-42", 2, 1, 3, 3, 3)
    assert vm.deploy_id == "one-42" and vm.state_name == "ACTIVE" and not vm.locked
    assert [d.disk_id for d in vm.disks] == [0, 1]
    os_disk, data_disk = vm.disks
    assert (os_disk.image_id, os_disk.source, os_disk.size, os_disk.original_size) == (7, "one-img-7", 10240, 3584)
    assert os_disk.clone and not os_disk.save and not os_disk.persistent and not os_disk.readonly
    assert (os_disk.tm_mad, os_disk.datastore_id, os_disk.type, os_disk.format, os_disk.target) == (
        "storpool", 100, "BLOCK", "raw", "vda")
    assert os_disk.cluster_ids == (0,) and os_disk.attributes["IMAGE_UNAME"] == "oneadmin"
    assert data_disk.persistent and data_disk.save and not data_disk.clone
    assert [s.name for s in data_disk.snapshots] == ["before-upgrade"]
    assert data_disk.snapshot(0).parent is None and data_disk.snapshot(0).size == 20480
    assert os_disk.snapshots == ()
    assert vm.context_disk_id == 2 and vm.context["TARGET"] == "hda"
    assert vm.tm_mad_system == "storpool" and vm.memory == 1024
    current = vm.current_history
    assert (current.hostname, current.hid, current.ds_id, current.tm_mad, current.vm_mad) == (
        "node1", 3, 101, "storpool", "kvm")
    assert vm.previous_history is None and vm.hostname == "node1" and vm.system_ds_id == 101
    assert vm.user_template["LOGO"] == "images/logos/ubuntu.png" and vm.user_template.text("SP_QOSCLASS") is None
    assert vm.backup.backup_ids == () and vm.backup.mode is None


def test_sample_images():
    os_image = Image.from_xml(parse_xml(sample("image-ready-os.xml")))
    assert (os_image.id, os_image.name, os_image.type_name, os_image.persistent) == (7, "ubuntu2404", "OS", False)
    assert (os_image.size, os_image.source, os_image.format, os_image.state_name) == (3584, "one-img-7", "raw", "USED")
    assert os_image.md5 == "0f343b0931126a20f133d67c2b018a3b" and os_image.vms == (42,)
    assert os_image.cloning_id is None and os_image.target_snapshot is None and os_image.fs is None
    data = Image.from_xml(parse_xml(sample("image-persistent-datablock.xml")))
    assert data.persistent and data.type_name == "DATABLOCK" and data.snapshot(0).name == "before-upgrade"
    with pytest.raises(NotFound, match="image 8 has no snapshot 3"):
        data.snapshot(3)


def test_sample_datastores():
    image_ds = Datastore.from_xml(parse_xml(sample("datastore-image.xml")))
    assert (image_ds.id, image_ds.name, image_ds.type_name, image_ds.ds_mad, image_ds.tm_mad) == (
        100, "sp-images", "IMAGE", "storpool", "storpool")
    assert image_ds.base_path == "/var/lib/one//datastores/100" and image_ds.cluster_ids == (0,)
    assert (image_ds.total_mb, image_ds.free_mb, image_ds.used_mb) == (4194304, 3670016, 524288)
    assert image_ds.bridge_list == ("node1", "node2") and image_ds.template.text("SP_TEMPLATE") == "hybrid"
    assert not image_ds.is_system
    assert image_ds.image_ids == (7, 8) and image_ds.safe_dirs == ("/var/tmp",)
    system = Datastore.from_xml(parse_xml(sample("datastore-system.xml")))
    assert system.is_system and system.type_name == "SYSTEM" and system.shared is True and system.ds_mad == "-"


def test_sample_driver_actions():
    cp = decode_driver_action(sample("ds-action-cp.xml"))
    assert cp.image.id == 9 and cp.image.path == "/var/tmp/debian12.qcow2" and cp.image.source is None
    assert cp.image.size == 2048 and cp.image.modtime == 1736000000 and cp.image_path == cp.image.path
    assert cp.datastore.id == 100 and cp.monitor_vm_disks is None and len(cp.extras) == 0
    monitor = decode_driver_action(sample("ds-action-monitor-system.xml"))
    assert monitor.image is None and monitor.datastore.is_system
    assert monitor.monitor_vm_disks is True and monitor.datastore_location == "/var/lib/one//datastores"
    assert monitor.extras["MONITOR_VM_DISKS"] == "1"
    with pytest.raises(BadInput, match="IMAGE is missing"):
        monitor.require_image()


# -- builder documents ---------------------------------------------------------------------------


def full_vm(**kwargs) -> str:
    disks = [
        image_disk(0, 7, snapshots=[disk_snapshot(0, name="s0", children=[1]),
                                    disk_snapshot(1, parent=0, active=True, size=300)]),
        image_disk(1, 8, persistent=True, extra={"SP_QOSCLASS": "gold"}),
        cdrom_disk(2, 9),
        volatile_disk(3, 512, kind="swap"),
        volatile_disk(4, 100, fs="ext4"),
    ]
    defaults = dict(
        disks=disks,
        history=[history("node1", hid=1, ds_id=101), history("node2", hid=2, ds_id=102)],
        vm_snapshots=[vm_snapshot(0, "ONESNAP-0-1736100000", "first")],
        user_template={"SP_QOSCLASS": "silver;1:gold", "VC_POLICY": "pol", "VMSNAPSHOT_LIMIT": "3",
                       "DISKSNAPSHOT_LIMIT": "5", "T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"},
        backup_config={"MODE": "FULL", "KEEP_LAST": 4, "BACKUP_VOLATILE": "NO", "LAST_DATASTORE_ID": "120"},
        backup_ids=[30, 31],
        tpm_model="tpm-crb",
    )
    defaults.update(kwargs)
    return vm_xml(42, **defaults)


def test_vm_disk_kinds_and_helpers():
    vm = vm_of(full_vm())
    nonpersistent, persistent, cdrom, swap, fs = vm.disks
    assert nonpersistent.clone and not nonpersistent.is_volatile and nonpersistent.is_image
    assert persistent.persistent and persistent.sp_qosclass == "gold"
    assert cdrom.is_cdrom and cdrom.readonly and cdrom.is_immutable and cdrom.target == "hdc"
    assert swap.is_volatile and swap.is_swap and swap.image_id is None and swap.size == 512
    assert fs.is_volatile and not fs.is_swap and fs.fs == "ext4" and fs.type == "fs"
    assert vm.context_disk_id == 5
    assert nonpersistent.snapshot(1).active and [s.id for s in nonpersistent.snapshots if s.active] == [1]
    assert nonpersistent.snapshot(0).children == (1,) and nonpersistent.snapshot(1).parent == 0
    with pytest.raises(NotFound, match="disk 0 of VM 42 has no snapshot 7"):
        nonpersistent.snapshot(7)
    with pytest.raises(NotFound, match="VM 42 has no disk 9"):
        vm.disk(9)
    assert vm.disk(3) is swap and vm.has_disk(4) and not vm.has_disk(9)


def test_vm_history_snapshots_templates_and_backups():
    vm = vm_of(full_vm())
    assert vm.current_history.hostname == "node2" and vm.previous_history.hostname == "node1"
    assert vm.system_ds_id == 102 and vm.previous_history.ds_id == 101
    assert [h.seq for h in vm.history] == [0, 1] and vm.current_history.plan_id == -1
    assert vm.vm_snapshot(0).hypervisor_id == "ONESNAP-0-1736100000" and vm.vm_snapshots[0].name == "first"
    with pytest.raises(NotFound):
        vm.vm_snapshot(1)
    assert vm.user_template.text("SP_QOSCLASS") == "silver;1:gold" and vm.vc_policy == "pol"
    assert vm.user_template.get_int("VMSNAPSHOT_LIMIT") == 3 and vm.user_template.get_int("DISKSNAPSHOT_LIMIT") == 5
    assert vm.t_os_nvram.startswith("storpool:")
    assert vm.tpm_model == "tpm-crb"
    assert (vm.backup.mode, vm.backup.keep_last, vm.backup.backup_volatile, vm.backup.last_datastore_id) == (
        "FULL", 4, False, 120)
    assert vm.backup.backup_ids == (30, 31)


def test_user_editable_attributes_fail_only_when_read():
    vm = vm_of(full_vm(user_template={"VMSNAPSHOT_LIMIT": "many"}))
    assert vm.user_template.get_int("DISKSNAPSHOT_LIMIT") is None
    with pytest.raises(BadInput, match=r"VM\[ID=42\]/USER_TEMPLATE/VMSNAPSHOT_LIMIT is 'many', not an integer"):
        vm.user_template.get_int("VMSNAPSHOT_LIMIT")


def test_opennebula_6_documents_lack_7_0_fields():
    vm = vm_of(full_vm(version="6.10"))
    assert vm.current_history.plan_id is None and vm.current_history.action_id is None
    assert vm.current_history.hostname == "node2"
    image = Image.from_xml(parse_xml(image_xml(7, version="6.10")))
    assert image.modtime is None and image.regtime is not None


@pytest.mark.parametrize("version", ["6.10", "7.0", "7.2", "7.4"])
def test_documents_of_every_supported_version_parse(version):
    vm = vm_of(full_vm(version=version, locked=True))
    assert [d.disk_id for d in vm.disks] == [0, 1, 2, 3, 4] and vm.locked
    assert (vm.current_history.plan_id is None) == (version == "6.10")
    system = Datastore.from_xml(parse_xml(datastore_xml(101, kind="SYSTEM", version=version)))
    assert system.is_system and system.shared
    moves = [system.template.get_flag(key) for key in ("DS_LIVE_MIGRATE", "DS_MIGRATE_SNAP")]
    assert moves == ([True, True] if version in ("7.2", "7.4") else [None, None])
    image = Image.from_xml(parse_xml(image_xml(7, version=version)))
    assert image.id == 7 and (image.modtime is None) == (version == "6.10")


def test_datastore_sp_attributes_and_secrets():
    ds = Datastore.from_xml(parse_xml(datastore_xml(
        100, sp={"REPLICATION": 3, "AUTH_TOKEN": "tok-secret-123", "API_HTTP_PORT": "81", "QOSCLASS": "gold",
                 "PLACEALL": "hdd", "IOPS": "-"},
        template={"VMSNAPSHOT_LIMIT": "10", "EXPORT_BRIDGE_LIST": "b1  b2"})))
    template = ds.template
    assert template.get_int("SP_REPLICATION") == 3 and template.get_int("SP_API_HTTP_PORT") == 81
    assert template.text("SP_AUTH_TOKEN") == "tok-secret-123" and template.text("SP_IOPS") == "-"
    assert template.get_int("VMSNAPSHOT_LIMIT") == 10 and template.words("EXPORT_BRIDGE_LIST") == ("b1", "b2")
    assert "tok-secret-123" not in repr(ds) and "SP_AUTH_TOKEN" in repr(ds)
    bad = Datastore.from_xml(parse_xml(datastore_xml(100, sp={"REPLICATION": "three"})))
    with pytest.raises(BadInput, match=r"DATASTORE\[ID=100\]/TEMPLATE/SP_REPLICATION is 'three'"):
        bad.template.get_int("SP_REPLICATION")


def test_host_view():
    host = Host.from_xml(parse_xml(host_xml(3, "node1", sp_ourid=17, vms=[42])))
    assert (host.id, host.name, host.sp_ourid, host.hostname, host.vms) == (3, "node1", 17, "node1", (42,))
    assert host.is_monitored and host.state_name == "MONITORED" and host.template.get("SP_OURID") == "17"
    assert Host.from_xml(parse_xml(host_xml(4, "node2"))).sp_ourid is None


def test_stat_stub_image():
    action = decode_driver_action(ds_driver_action_xml(datastore_xml(100), image_path="/var/tmp/x.qcow2"))
    assert action.image is None and action.image_path == "/var/tmp/x.qcow2"


# -- bad values ------------------------------------------------------------------------------------


def test_missing_disk_id_names_the_disk():
    text = full_vm().replace("<DISK_ID><![CDATA[1]]></DISK_ID>", "", 1)
    with pytest.raises(BadInput, match=r"^VM\[ID=42\]/TEMPLATE/DISK\[2\]/DISK_ID is missing$"):
        vm_of(text)


def test_non_numeric_size_names_the_element():
    text = full_vm().replace("<SIZE><![CDATA[512]]></SIZE>", "<SIZE>abc</SIZE>", 1)
    with pytest.raises(BadInput, match=r"^VM\[ID=42\]/TEMPLATE/DISK\[4\]/SIZE is 'abc', not an integer$"):
        vm_of(text)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("<ID>42</ID>", "<ID>x</ID>", r"VM/ID is 'x', not an integer"),
        ("<ID>42</ID>", "", r"VM/ID is missing"),
        ("<PERSISTENT><![CDATA[YES]]></PERSISTENT>", "<PERSISTENT>maybe</PERSISTENT>",
         r"DISK\[2\]/PERSISTENT is 'maybe', not YES or NO"),
        ("<STATE>3</STATE>", "", r"VM\[ID=42\]/STATE is missing"),
        ("<HOSTNAME>node2</HOSTNAME>", "", r"HISTORY_RECORDS/HISTORY\[2\]/HOSTNAME is missing"),
        ("<DS_ID>102</DS_ID>", "<DS_ID>1.5</DS_ID>", r"HISTORY\[2\]/DS_ID is '1.5', not an integer"),
        ("<SNAPSHOT_ID><![CDATA[0]]></SNAPSHOT_ID>", "", r"TEMPLATE/SNAPSHOT\[1\]/SNAPSHOT_ID is missing"),
    ],
)
def test_wrong_types_and_missing_elements_are_bad_input(old, new, message):
    text = full_vm()
    assert old in text
    with pytest.raises(BadInput, match=message):
        vm_of(text.replace(old, new, 1))


def test_a_bad_disk_snapshot_fails_when_the_snapshots_are_read():
    """Disk snapshots are parsed on first use (a monitor's pool read needs none of them)."""
    vm = vm_of(full_vm().replace("<PARENT>0</PARENT>", "<PARENT>p</PARENT>", 1))
    with pytest.raises(BadInput, match=r"VM\[ID=42\]/SNAPSHOTS\[1\]/SNAPSHOT\[2\]/PARENT is 'p'"):
        [disk.snapshots for disk in vm.disks]


def test_bad_datastore_inside_a_driver_action():
    datastore = datastore_xml(100).replace("<TYPE>0</TYPE>", "<TYPE>zero</TYPE>")
    doc = ds_driver_action_xml(datastore, image_xml(7))
    with pytest.raises(BadInput, match=r"DATASTORE\[ID=100\]/TYPE is 'zero'"):
        decode_driver_action(doc)
    no_ds = "<DS_DRIVER_ACTION_DATA>%s</DS_DRIVER_ACTION_DATA>" % image_xml(7)
    with pytest.raises(BadInput, match="DS_DRIVER_ACTION_DATA/DATASTORE is missing"):
        decode_driver_action(no_ds)

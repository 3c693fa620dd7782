"""Every document the builders and the oned stand-in produce validates against OpenNebula 7.0's XSDs.

Skipped (with the reason) when ../shared/opennebula is absent.
"""

from __future__ import annotations

import xmlrpc.client

import pytest
from lxml import etree

from fixtures.sim_oned import opennebula_dir, xsd_errors
from onesp.one import OneClient
from onesp.sim.oned.builders import (
    cdrom_disk, datastore_xml, disk_snapshot, ds_driver_action_xml, history, host_xml, image_disk, image_xml,
    vm_snapshot, vm_xml, vmm_driver_action_xml, volatile_disk,
)

ALL_DISKS = [
    image_disk(0, 7, snapshots=[disk_snapshot(0, name="base", children=[1]),
                                disk_snapshot(1, parent=0, active=True)]),
    image_disk(1, 8, persistent=True, snapshots=[disk_snapshot(0)]),
    cdrom_disk(2, 9),
    volatile_disk(3, 1024, kind="fs", fs="ext4"),
    volatile_disk(4, 512, kind="swap"),
]

VMS = {
    "every disk kind, two hosts": vm_xml(
        42, disks=ALL_DISKS, history=[history("node1", hid=1), history("node2", hid=2, ds_id=102)],
        vm_snapshots=[vm_snapshot(0, "ONESNAP-0-1736100000"), vm_snapshot(1, "ONESNAP-1-1736100100", active=True)],
        user_template={"SP_QOSCLASS": "gold;1:silver", "VC_POLICY": "p", "VMSNAPSHOT_LIMIT": 4,
                       "SCHED_ACTION": {"ACTION": "poweroff", "TIME": "1"}},
        backup_config={"MODE": "FULL", "KEEP_LAST": 2, "FS_FREEZE": "AGENT"}, backup_ids=[50],
        tpm_model="tpm-crb", locked=True),
    "pending, no disks, no context": vm_xml(7, state=1, lcm_state=0, context=False, history=()),
    "poweroff, one persistent disk": vm_xml(8, state=8, lcm_state=0, disks=[image_disk(0, 3, persistent=True)],
                                            context={"SSH_PUBLIC_KEY": "ssh-ed25519 AAAA x"}),
}

IMAGES = {
    "os": image_xml(7, vms=[42], template={"MD5": "0f34", "SP_QOSCLASS": "gold"}),
    "persistent datablock with snapshots": image_xml(
        8, type="DATABLOCK", persistent=True, state=8,
        snapshots=[disk_snapshot(0, name="a", children=[1], active=True), disk_snapshot(1, parent=0)]),
    "cdrom": image_xml(9, type="CDROM", format="iso"),
    "save-as placeholder": image_xml(10, type="DATABLOCK", source="", format="save_as", state=4,
                                     template={"SAVED_VM_ID": 42, "SAVED_DISK_ID": 1}),
}

DATASTORES = {
    "image with SP attributes": datastore_xml(100, sp={"QOSCLASS": "gold", "REPLICATION": 3, "PLACEALL": "hdd",
                                                       "AUTH_TOKEN": "t", "API_HTTP_HOST": "10.0.0.1"},
                                              images=[7, 8]),
    "system with SP attributes": datastore_xml(101, kind="SYSTEM", sp={"SYSTEM": "ssh", "QOSCLASS": "bronze"},
                                               template={"VMSNAPSHOT_LIMIT": 5}),
    "unshared system": datastore_xml(102, kind="SYSTEM", shared=False, bridge_list=()),
    "file": datastore_xml(2, kind="FILE", ds_mad="fs", tm_mad="ssh"),
}


@pytest.fixture(autouse=True)
def _schemas_present():
    opennebula_dir()


@pytest.mark.parametrize("name", sorted(VMS))
def test_vm_documents(name):
    assert xsd_errors(VMS[name], "vm.xsd") == []


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_documents(name):
    assert xsd_errors(IMAGES[name], "image.xsd") == []


@pytest.mark.parametrize("name", sorted(DATASTORES))
def test_datastore_documents(name):
    assert xsd_errors(DATASTORES[name], "datastore.xsd") == []


def test_host_documents():
    assert xsd_errors(host_xml(1, "node1", sp_ourid=11, vms=[42, 43]), "host.xsd") == []
    assert xsd_errors(host_xml(2, "node2", state=4, template={"SP_CLUSTER_ID": "a"}), "host.xsd") == []


def _children(xml_text: str):
    root = etree.fromstring(xml_text.encode())
    return {child.tag: etree.tostring(child, encoding="unicode") for child in root if len(child)}


def test_driver_action_children():
    cp = _children(ds_driver_action_xml(DATASTORES["image with SP attributes"], IMAGES["os"],
                                        extras={"MARKETPLACE": {"NAME": "m"}}))
    assert xsd_errors(cp["IMAGE"], "image.xsd") == [] and xsd_errors(cp["DATASTORE"], "datastore.xsd") == []
    vmm = _children(vmm_driver_action_xml(VMS["every disk kind, two hosts"],
                                          datastore=DATASTORES["system with SP attributes"]))
    assert xsd_errors(vmm["VM"], "vm.xsd") == [] and xsd_errors(vmm["DATASTORE"], "datastore.xsd") == []


def test_authored_samples_still_validate_with_the_helper():
    authored = opennebula_dir() / "samples" / "authored"
    for name, schema in (("vm-running-2disks-context.xml", "vm.xsd"), ("image-ready-os.xml", "image.xsd"),
                         ("datastore-system.xml", "datastore.xsd")):
        assert xsd_errors((authored / name).read_text(), schema) == []


def test_stand_in_answers_and_updated_documents(oned_sim):
    for text in VMS.values():
        oned_sim.put("vm", text)
    for text in IMAGES.values():
        oned_sim.put("image", text)
    for text in DATASTORES.values():
        oned_sim.put("datastore", text)
    oned_sim.put("host", host_xml(1, "node1", sp_ourid=11))
    client = OneClient.from_environment(oned_sim.env)
    client.image_update(8, {"SP_QOSCLASS": "gold", "VEC": {"A": "1"}})
    client.datastore_update(100, 'SP_REPLICATION = "2"', append=False)
    client.vm_update(42, {"VC_POLICY": "new"})
    assert xsd_errors(oned_sim.get("image", 8), "image.xsd") == []
    assert xsd_errors(oned_sim.get("datastore", 100), "datastore.xsd") == []
    assert xsd_errors(oned_sim.get("vm", 42), "vm.xsd") == []
    proxy = xmlrpc.client.ServerProxy(oned_sim.endpoint)
    session = "oneadmin:secret"
    answers = {
        "vm_pool_extended.xsd": proxy.one.vmpool.infoextended(session, -2, -1, -1, -2),
        "vm_pool.xsd": proxy.one.vmpool.info(session, -2, -1, -1, -2),
        "image_pool.xsd": proxy.one.imagepool.info(session, -2, -1, -1),
        "datastore_pool.xsd": proxy.one.datastorepool.info(session),
        "host_pool.xsd": proxy.one.hostpool.info(session),
        "vm.xsd": proxy.one.vm.info(session, 42),
    }
    for schema, answer in answers.items():
        assert answer[0] is True
        assert xsd_errors(answer[1], schema) == [], schema
    assert len(etree.fromstring(answers["vm_pool.xsd"][1].encode())) == len(VMS)

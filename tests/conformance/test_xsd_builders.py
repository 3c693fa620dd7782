"""Every document the builders and the oned stand-in produce validates against the XSDs of
OpenNebula 7.0, 7.2 and 7.4, each shaped for that version (6.10's schemas do not compile with
libxml2: tests/unit/test_one_views.py reads 6.10-shaped documents instead).

Skipped, with the reason, when OpenNebula's schemas are not found (``scripts/fetch-opennebula`` gets them).
"""

from __future__ import annotations

import base64
import xmlrpc.client

import pytest
from fixtures.sim_oned import SCHEMA_DIRS, authored_sample, opennebula_dir, xsd_errors
from lxml import etree

from onesp.one import OneClient
from onesp.sim.oned import OnedSim
from onesp.sim.oned.builders import (
    cdrom_disk,
    datastore_xml,
    disk_snapshot,
    ds_driver_action_xml,
    history,
    hook_xml,
    host_xml,
    image_disk,
    image_xml,
    vm_snapshot,
    vm_xml,
    vmm_driver_action_xml,
    volatile_disk,
)

ALL_DISKS = [
    image_disk(0, 7, snapshots=[disk_snapshot(0, name="base", children=[1]),
                                disk_snapshot(1, parent=0, active=True)]),
    image_disk(1, 8, persistent=True, snapshots=[disk_snapshot(0)]),
    cdrom_disk(2, 9),
    volatile_disk(3, 1024, kind="fs", fs="ext4"),
    volatile_disk(4, 512, kind="swap"),
]

VERSIONS = sorted(SCHEMA_DIRS)


def vms(version: str = "7.0"):
    return {
        "every disk kind, two hosts": vm_xml(
            42, disks=ALL_DISKS, history=[history("node1", hid=1), history("node2", hid=2, ds_id=102)],
            vm_snapshots=[vm_snapshot(0, "ONESNAP-0-1736100000"), vm_snapshot(1, "ONESNAP-1-1736100100", active=True)],
            user_template={"SP_QOSCLASS": "gold;1:silver", "VC_POLICY": "p", "VMSNAPSHOT_LIMIT": 4,
                           "SCHED_ACTION": {"ACTION": "poweroff", "TIME": "1"}},
            backup_config={"MODE": "FULL", "KEEP_LAST": 2, "FS_FREEZE": "AGENT"}, backup_ids=[50],
            tpm_model="tpm-crb", locked=True, version=version),
        "pending, no disks, no context": vm_xml(7, state=1, lcm_state=0, context=False, history=(), version=version),
        "poweroff, one persistent disk": vm_xml(8, state=8, lcm_state=0, disks=[image_disk(0, 3, persistent=True)],
                                                context={"SSH_PUBLIC_KEY": "ssh-ed25519 AAAA x"}, version=version),
    }

def images(version: str = "7.0"):
    return {
        "os": image_xml(7, vms=[42], template={"MD5": "0f34", "SP_QOSCLASS": "gold"}, version=version),
        "persistent datablock with snapshots": image_xml(
            8, type="DATABLOCK", persistent=True, state=8,
            snapshots=[disk_snapshot(0, name="a", children=[1], active=True), disk_snapshot(1, parent=0)],
            version=version),
        "cdrom": image_xml(9, type="CDROM", format="iso", version=version),
        "save-as placeholder": image_xml(10, type="DATABLOCK", source="", format="save_as", state=4,
                                         template={"SAVED_VM_ID": 42, "SAVED_DISK_ID": 1}, version=version),
    }


def datastores(version: str = "7.0"):
    return {
        "image with SP attributes": datastore_xml(100, sp={"QOSCLASS": "gold", "REPLICATION": 3, "PLACEALL": "hdd",
                                                           "AUTH_TOKEN": "t", "API_HTTP_HOST": "10.0.0.1"},
                                                  images=[7, 8], version=version),
        "system with SP attributes": datastore_xml(101, kind="SYSTEM", sp={"SYSTEM": "ssh", "QOSCLASS": "bronze"},
                                                   template={"VMSNAPSHOT_LIMIT": 5}, version=version),
        "unshared system": datastore_xml(102, kind="SYSTEM", shared=False, bridge_list=(), version=version),
        "file": datastore_xml(2, kind="FILE", ds_mad="fs", tm_mad="ssh", version=version),
    }


@pytest.fixture(autouse=True)
def _schemas_present():
    opennebula_dir()


@pytest.mark.parametrize("version", VERSIONS)
def test_vm_documents(version):
    for name, text in vms(version).items():
        assert xsd_errors(text, "vm.xsd", version) == [], name


@pytest.mark.parametrize("version", VERSIONS)
def test_image_documents(version):
    for name, text in images(version).items():
        assert xsd_errors(text, "image.xsd", version) == [], name


@pytest.mark.parametrize("version", VERSIONS)
def test_datastore_documents(version):
    for name, text in datastores(version).items():
        assert xsd_errors(text, "datastore.xsd", version) == [], name


@pytest.mark.parametrize("version", VERSIONS)
def test_host_documents(version):
    assert xsd_errors(host_xml(1, "node1", sp_ourid=11, vms=[42, 43]), "host.xsd", version) == []
    assert xsd_errors(host_xml(2, "node2", state=4, template={"SP_CLUSTER_ID": "a"}), "host.xsd", version) == []


def _children(xml_text: str):
    root = etree.fromstring(xml_text.encode())
    return {child.tag: etree.tostring(child, encoding="unicode") for child in root if len(child)}


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_action_children(version):
    cp = _children(ds_driver_action_xml(datastores(version)["image with SP attributes"], images(version)["os"],
                                        extras={"MARKETPLACE": {"NAME": "m"}}))
    assert xsd_errors(cp["IMAGE"], "image.xsd", version) == []
    assert xsd_errors(cp["DATASTORE"], "datastore.xsd", version) == []
    vmm = _children(vmm_driver_action_xml(vms(version)["every disk kind, two hosts"],
                                          datastore=datastores(version)["system with SP attributes"]))
    assert xsd_errors(vmm["VM"], "vm.xsd", version) == [] and xsd_errors(vmm["DATASTORE"], "datastore.xsd", version) == []


def test_authored_samples_still_validate_with_the_helper():
    for name, schema in (("vm-running-2disks-context.xml", "vm.xsd"), ("image-ready-os.xml", "image.xsd"),
                         ("datastore-system.xml", "datastore.xsd")):
        assert xsd_errors(authored_sample(name), schema) == []


@pytest.mark.parametrize("version", ["7.0.2", "7.2.0", "7.4.0"])
def test_stand_in_answers_and_updated_documents(tmp_path, version):
    schemas = version.rsplit(".", 1)[0]
    with OnedSim(tmp_path, version=version) as oned_sim:
        for text in vms(schemas).values():
            oned_sim.put("vm", text)
        for text in images(schemas).values():
            oned_sim.put("image", text)
        for text in datastores(schemas).values():
            oned_sim.put("datastore", text)
        oned_sim.put("host", host_xml(1, "node1", sp_ourid=11))
        client = OneClient.from_environment(oned_sim.env)
        assert client.version() == version
        client.image_update(8, {"SP_QOSCLASS": "gold", "VEC": {"A": "1"}})
        client.datastore_update(100, 'SP_REPLICATION = "2"', append=False)
        client.vm_update(42, {"VC_POLICY": "new"})
        assert [(vm.id, vm.locked) for vm in client.vm_pool(extended=False)] == [
            (7, False), (8, False), (42, schemas == "7.4")]
        assert xsd_errors(oned_sim.get("image", 8), "image.xsd", schemas) == []
        assert xsd_errors(oned_sim.get("datastore", 100), "datastore.xsd", schemas) == []
        assert xsd_errors(oned_sim.get("vm", 42), "vm.xsd", schemas) == []
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
        assert xsd_errors(answer[1], schema, schemas) == [], schema
    short = etree.fromstring(answers["vm_pool.xsd"][1].encode())
    assert len(short) == len(vms(schemas))
    # 7.4 added the lock to the short body of one.vmpool.info
    assert [vm.findtext("ID") for vm in short if vm.find("LOCK") is not None] == (["42"] if schemas == "7.4" else [])
    system = etree.fromstring(answers["datastore_pool.xsd"][1].encode()).find("DATASTORE[ID='101']/TEMPLATE")
    moves = (system.findtext("DS_LIVE_MIGRATE"), system.findtext("DS_MIGRATE_SNAP"))
    assert moves == (("YES", "YES") if schemas != "7.0" else (None, None))


@pytest.mark.parametrize("version", ["7.0.2", "7.4.0"])
def test_hooks_and_the_api_hook_argument(tmp_path, version):
    """Hook documents and the pool answer follow hook.xsd/hook_pool.xsd; the ``$API`` argument
    the stand-in gives for a call follows api_info.xsd (what oned hands an API hook)."""
    schemas = version.rsplit(".", 1)[0]
    hook = hook_xml(0, "storpool-retag")
    assert xsd_errors(hook, "hook.xsd", schemas) == []
    with OnedSim(tmp_path, version=version) as oned_sim:
        oned_sim.put("hook", hook)
        oned_sim.put("vm", vms(schemas)["poweroff, one persistent disk"])
        proxy = xmlrpc.client.ServerProxy(oned_sim.endpoint)
        pool = proxy.one.hookpool.info("oneadmin:secret", -2, -1, -1)
        assert proxy.one.vm.update("oneadmin:secret", 8, 'VC_POLICY="p<&>"', 1)[0] is True
        argument = base64.b64decode(oned_sim.api_argument("one.vm.update"))
        assert [h.name for h in OneClient.from_environment(oned_sim.env).hook_pool()] == ["storpool-retag"]
    assert pool[0] is True and xsd_errors(pool[1], "hook_pool.xsd", schemas) == []
    assert xsd_errors(argument.decode(), "api_info.xsd", schemas) == []
    info = etree.fromstring(argument)
    assert [(p.findtext("POSITION"), p.findtext("TYPE"), p.findtext("VALUE")) for p in info.iter("PARAMETER")][:4] == [
        ("1", "IN", "****"), ("2", "IN", "8"), ("3", "IN", 'VC_POLICY="p<&>"'), ("4", "IN", "1")]

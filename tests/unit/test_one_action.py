"""Decoding what oned hands actions: DS and VMM driver actions, the VM document of migrate and backup hooks."""

from __future__ import annotations

import pytest

from onesp.one import decode_driver_action, decode_vm_document, decode_vmm_action
from onesp.runtime.errors import BadInput
from onesp.sim.oned.builders import (
    b64,
    b64_wrapped,
    datastore_xml,
    ds_driver_action_xml,
    image_disk,
    image_xml,
    vm_xml,
    vmm_driver_action_xml,
)


def test_ds_action_with_extras():
    doc = ds_driver_action_xml(
        datastore_xml(101, kind="SYSTEM"), monitor_vm_disks=False, datastore_location="/var/lib/one//datastores",
        extras={"DESTINATION_DS_ID": 7, "MARKETPLACE": {"NAME": "market", "MARKET_MAD": "http"}, "OTHER": "x"},
    )
    action = decode_driver_action(b64(doc))
    assert action.image is None and action.datastore.id == 101
    assert action.monitor_vm_disks is False and action.destination_ds_id == 7
    assert action.marketplace["MARKET_MAD"] == "http" and action.extras["OTHER"] == "x"
    assert action.extras.vectors("MARKETPLACE")[0]["NAME"] == "market"


def test_image_inside_a_ds_action():
    action = decode_driver_action(b64(ds_driver_action_xml(
        datastore_xml(100, sp={"QOSCLASS": "ds-class"}),
        image_xml(12, type="DATABLOCK", persistent=True, source="", format="save_as", size=4096,
                  cloning_id=7, target_snapshot=2, template={"SP_QOSCLASS": "img-class", "MD5": "abc"}),
    )))
    image = action.require_image()
    assert image.id == 12 and image.persistent and image.size == 4096 and image.source is None
    assert image.is_save_as and image.cloning_id == 7 and image.target_snapshot == 2
    assert image.template.text("SP_QOSCLASS") == "img-class" and image.md5 == "abc"
    assert action.datastore.template.text("SP_QOSCLASS") == "ds-class"


def test_vm_document_forms():
    vm = vm_xml(42, disks=[image_disk(0, 7)])
    for form in (b64(vm), b64_wrapped(vm), vm, vm.encode(), b64(vm).encode() + b"\n"):
        assert decode_vm_document(form).disk(0).image_id == 7
    with pytest.raises(BadInput, match="expected a <VM> document"):
        decode_vm_document(b64(image_xml(1)))


def test_vmm_action():
    vm = vm_xml(42, disks=[image_disk(0, 7), image_disk(1, 8, extra={"ATTACH": "YES"})])
    doc = vmm_driver_action_xml(vm, host="node2", datastore=datastore_xml(101, kind="SYSTEM"),
                                tm_command="CLONE storpool fe:one-img-8 node2:/x/disk.1 42 100",
                                checkpoint_file="/var/lib/one//datastores/101/42/checkpoint")
    action = decode_vmm_action(b64(doc))
    assert action.host == "node2" and action.deploy_id == "one-42" and action.datastore.id == 101
    assert action.tm_command.startswith("CLONE storpool") and action.checkpoint_file.endswith("checkpoint")
    assert action.vm.id == 42 and action.vm.attaching_disk.disk_id == 1
    with pytest.raises(BadInput, match="VMM_DRIVER_ACTION_DATA/VM is missing"):
        decode_vmm_action("<VMM_DRIVER_ACTION_DATA><HOST>n</HOST></VMM_DRIVER_ACTION_DATA>")

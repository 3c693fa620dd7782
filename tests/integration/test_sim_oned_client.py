"""OneClient against the oned stand-in over real XML-RPC on 127.0.0.1."""

from __future__ import annotations

import time
import xmlrpc.client

import pytest

from onesp.one import OneClient, OnedError, OnedNotFound, parse_xml
from onesp.runtime.errors import BackendError, Busy, NotFound, Transient
from onesp.sim.oned.builders import (
    datastore_xml,
    history,
    host_xml,
    image_disk,
    image_xml,
    vm_xml,
    volatile_disk,
)


@pytest.fixture
def populated(oned_sim):
    oned_sim.put("vm", vm_xml(42, disks=[image_disk(0, 7), image_disk(1, 8, persistent=True)],
                              history=[history("node1", hid=1), history("node2", hid=2)],
                              user_template={"SP_QOSCLASS": "gold"}))
    oned_sim.put("vm", vm_xml(43, uid=5, state=8, lcm_state=0, disks=[volatile_disk(0, 256)]))
    oned_sim.put("vm", vm_xml(44, state=6, lcm_state=0))
    oned_sim.put("image", image_xml(7, vms=[42]))
    oned_sim.put("image", image_xml(8, uid=5, persistent=True, type="DATABLOCK"))
    oned_sim.put("datastore", datastore_xml(100, sp={"QOSCLASS": "silver"}))
    oned_sim.put("datastore", datastore_xml(101, kind="SYSTEM"))
    oned_sim.put("host", host_xml(1, "node1", sp_ourid=11))
    oned_sim.put("host", host_xml(2, "node2", sp_ourid=12))
    return oned_sim


def client_for(sim, **kwargs) -> OneClient:
    kwargs.setdefault("retry_delay", 0.01)
    env = sim.env
    return OneClient(env["ONE_XMLRPC"], open(env["ONE_AUTH"]).read().strip(), **kwargs)


def test_objects_round_trip(populated):
    client = OneClient.from_environment(populated.env)
    vm = client.vm(42)
    assert vm.disk(1).persistent and vm.current_history.hostname == "node2" and vm.user_template.text("SP_QOSCLASS") == "gold"
    assert client.image(7).vms == (42,) and client.datastore(100).template.text("SP_QOSCLASS") == "silver"
    assert client.datastore(101).is_system
    assert client.host(1).sp_ourid == 11 and client.host("2").name == "node2"
    assert client.host("node2").sp_ourid == 12
    assert client.version() == "7.0.2"


def test_each_object_is_fetched_once(populated):
    client = client_for(populated)
    for _ in range(3):
        client.vm(42)
        client.image(7)
        client.datastore(100)
        client.host("node1")
        client.host(2)
        client.version()
    counts = populated.call_log().counts
    assert counts == {"one.vm.info": 1, "one.image.info": 1, "one.datastore.info": 1, "one.host.info": 2,
                      "one.system.version": 1}
    assert populated.call_log().calls[0] == ("one.vm.info", (42,))


def test_pools_filter_and_seed_the_cache(populated):
    client = client_for(populated)
    assert [vm.id for vm in client.vm_pool()] == [42, 43]  # -1: everything but DONE
    assert [vm.id for vm in client.vm_pool(state=-2)] == [42, 43, 44]
    assert [vm.id for vm in client.vm_pool(state=8)] == [43]
    assert [vm.id for vm in client.vm_pool(filter=5)] == [43]
    assert [vm.id for vm in client.vm_pool(start=43, end=44, state=-2)] == [43, 44]
    assert [vm.id for vm in client.vm_pool(start=1, end=-2, state=-2)] == [43, 44]
    short = client.vm_pool(extended=False)
    assert short[0].disk(1).persistent and short[0].current_history.ds_id == 101
    assert short[0].prev_state is None and short[0].current_history.stime is None
    assert [i.id for i in client.image_pool()] == [7, 8] and [i.id for i in client.image_pool(filter=-3)] == [7]
    assert [d.id for d in client.datastore_pool()] == [100, 101]
    assert [h.name for h in client.host_pool()] == ["node1", "node2"]
    populated.reset_calls()
    client.vm(42)
    client.image(8)
    client.datastore(101)
    client.host(1)
    assert populated.call_log().calls == ()


def test_vmpool_query_argument_is_sent_only_when_given(populated):
    client = client_for(populated)
    client.vm_pool()
    client.vm_pool(query='{"VM.NAME": "vm-42"}')
    calls = [params for method, params in populated.call_log().calls]
    assert calls == [(-2, -1, -1, -1), (-2, -1, -1, -1, '{"VM.NAME": "vm-42"}')]


def test_updates_merge_replace_and_refresh(populated):
    client = client_for(populated)
    assert client.image(7).template.text("SP_QOSCLASS") is None and client.image_pool()[0].template.text("SP_QOSCLASS") is None
    assert client.image_update(7, {"SP_QOSCLASS": "gold", "NOTE": 'a "quoted" value'}) == 7
    image = client.image(7)
    assert image.template.text("SP_QOSCLASS") == "gold" and image.template["NOTE"] == 'a "quoted" value'
    assert image.template["DEV_PREFIX"] == "vd" and client.image_pool()[0].template.text("SP_QOSCLASS") == "gold"
    client.datastore_update(100, 'SP_REPLICATION = "3"\nBRIDGE_LIST = "node3"')
    ds = client.datastore(100)
    assert ds.template.get_int("SP_REPLICATION") == 3 and ds.bridge_list == ("node3",)
    assert ds.template.text("SP_QOSCLASS") == "silver"
    client.vm_update(42, {"VC_POLICY": "p1"}, append=False)
    vm = client.vm(42)
    assert vm.vc_policy == "p1" and vm.user_template.text("SP_QOSCLASS") is None and list(vm.user_template) == ["VC_POLICY"]
    assert parse_xml(populated.get("image", 7)).findtext("TEMPLATE/SP_QOSCLASS") == "gold"
    assert populated.call_log().count("one.image.info") == 2


def test_update_parse_error_and_missing_object(populated):
    client = client_for(populated)
    with pytest.raises(OnedError, match=r"\[one.image.update\] Parse error: syntax error at line 1") as bad:
        client.image_update(7, 'A = "unterminated')
    assert bad.value.code == 0x2000
    with pytest.raises(OnedNotFound, match=r"\[one.vm.update\] Error getting virtual machine \[99\]"):
        client.vm_update(99, {"A": "b"})


def test_missing_objects_are_not_found(populated):
    client = client_for(populated)
    for call, text in ((lambda: client.vm(99), "virtual machine [99]"), (lambda: client.image(99), "image [99]"),
                       (lambda: client.datastore(99), "datastore [99]"), (lambda: client.host(99), "host [99]")):
        with pytest.raises(NotFound) as missing:
            call()
        assert text in str(missing.value) and "NO_EXISTS" in str(missing.value)
        assert missing.value.code == 0x400
    with pytest.raises(NotFound, match="no host named 'node9'"):
        client.host("node9")


def test_wrong_session_is_rejected_like_oned(populated):
    client = OneClient(populated.endpoint, "oneadmin:wrong-password", retry_delay=0.01)
    with pytest.raises(BackendError) as denied:
        client.vm(42)
    assert denied.value.code == 0x100 and "User couldn't be authenticated" in str(denied.value)
    assert "wrong-password" not in str(denied.value)
    assert not isinstance(denied.value, (NotFound, Transient))
    assert populated.call_log().count("one.vm.info") == 1


def test_failure_answers_and_locked_objects(populated):
    client = client_for(populated)
    populated.inject("one.image.info", failure=("Image is locked.", 0x8000))
    with pytest.raises(Busy, match=r"\[one.image.info\] Image is locked. \(LOCKED\)"):
        client.image(7)
    populated.inject("one.datastore.update", failure=("Not authorized to perform MANAGE DATASTORE [100].", 0x200))
    with pytest.raises(OnedError, match="AUTHORIZATION"):
        client.datastore_update(100, {"A": "b"})


def test_reads_are_retried_after_dropped_connections(populated):
    client = client_for(populated)
    populated.inject("one.vm.info", count=3, disconnect=True)
    assert client.vm(42).id == 42
    assert populated.call_log().count("one.vm.info") == 4
    populated.reset_calls()
    populated.inject("one.image.info", count=2, http_status=503)
    assert client.image(7).id == 7
    assert populated.call_log().count("one.image.info") == 3


def test_retries_give_up_with_a_transient_error(populated):
    client = client_for(populated, retries=2)
    populated.inject(count=100, disconnect=True)
    with pytest.raises(Transient, match="cannot reach oned at http://127.0.0.1:.* for one.vm.info"):
        client.vm(42)
    populated.clear_injections()
    populated.reset_calls()
    populated.inject("one.vm.update", count=2, disconnect=True)
    with pytest.raises(Transient):
        client.vm_update(42, {"A": "b"})
    assert populated.call_log().count("one.vm.update") == 2  # one stale-connection retry by http.client, none by us


def test_timeouts(populated):
    client = client_for(populated, timeout=0.3)
    populated.inject("one.vm.info", delay=2.0)
    started = time.monotonic()
    with pytest.raises(Transient, match="no answer within 0.3s"):
        client.vm(42)
    assert time.monotonic() - started < 1.5


def test_a_client_that_gave_up_is_not_a_traceback(populated, capfd):
    client = client_for(populated, timeout=0.2)
    populated.inject("one.vm.info", delay=0.5)
    with pytest.raises(Transient):
        client.vm(42)
    time.sleep(0.6)  # the stand-in answers into the closed connection
    assert client_for(populated).vm(42).id == 42
    assert capfd.readouterr().err == ""


def test_stopped_oned_is_a_transient_error(oned_sim):
    endpoint = oned_sim.endpoint
    oned_sim.stop()
    client = OneClient(endpoint, "oneadmin:secret", retries=3, retry_delay=0.01)
    with pytest.raises(Transient, match="cannot reach oned"):
        client.vm(1)


def test_signature_and_method_faults(populated):
    proxy = xmlrpc.client.ServerProxy(populated.endpoint)
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.one.vm.info("oneadmin:secret", "42")
    assert fault.value.faultCode == -501
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.one.vm.nothing("oneadmin:secret", 42)
    assert fault.value.faultCode == -506
    assert proxy.one.vm.info("oneadmin:secret", 42, True)[0] is True
    failure = proxy.one.image.info("oneadmin:secret", 99)
    assert failure[:4] == [False, "[one.image.info] Error getting image [99].", 0x400, 99]
    client = client_for(populated)
    with pytest.raises(OnedError, match="fault -501"):
        client._call("one.vm.info", ("42",))


def test_documents_dropped_into_the_state_folder_are_served(oned_sim):
    (oned_sim.state_dir / "image" / "5.xml").write_text(image_xml(5, name="by-hand"))
    assert OneClient.from_environment(oned_sim.env).image(5).name == "by-hand"


def test_host_by_name_uses_the_id_from_a_known_vm_history(oned_sim):
    from onesp.one import OneClient
    from onesp.sim.oned import builders as b

    for hid in range(1, 6):
        oned_sim.put("host", b.host_xml(hid, "node%d" % hid, sp_ourid=hid))
    oned_sim.put("vm", b.vm_xml(7, history=(b.history("node3", hid=3),)))
    client = OneClient(oned_sim.endpoint, "oneadmin:secret")
    client.vm(7)
    oned_sim.reset_calls()
    assert client.host("node3").sp_ourid == 3
    assert dict(oned_sim.call_log().counts) == {"one.host.info": 1}
    assert client.host("node5").sp_ourid == 5  # no VM ran there: the pool answers
    assert oned_sim.call_log().counts.get("one.hostpool.info") == 1

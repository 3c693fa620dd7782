"""onesp retag and the one.vm.update API hook: tags follow VC_POLICY and SP_QOSCLASS changes."""

import base64
import json
import subprocess
import sys
import xmlrpc.client


def onesp(stack, *argv, env=None):
    r = subprocess.run([sys.executable, "-m", "onesp", *argv], capture_output=True, env=dict(stack.env, **(env or {})))
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def update_vm(stack, vm_id, text):
    """``onevm update --append`` through oned's API, as a user would."""
    proxy = xmlrpc.client.ServerProxy(stack.oned.endpoint)
    return proxy.one.vm.update(stack.oned.auth, vm_id, text, 1)


def deploy(stack):
    """VM 7 on node1, deployed by the real actions: disk 0 cloned from image 5, disk 1 the
    persistent image 6 (its own class img-gold), disk 2 volatile."""
    stack.put_image(5)
    stack.put_image(6, persistent=True, template={"SP_QOSCLASS": "img-gold"})
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.image_disk(1, 6, size=16, persistent=True),
                           stack.b.volatile_disk(2, 8)], context=False,
                 user_template={"VC_POLICY": "daily", "SP_QOSCLASS": "silver"})
    assert stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100").ok
    assert stack.tm("ln", "fe:one-ds-100/one-img-6", stack.disk_path("node1", 7, 1), "7", "100").ok
    assert stack.tm("mkimage", "8", "raw", stack.disk_path("node1", 7, 2), "7", "101").ok


def managed(stack, name):
    tags = stack.volume(name)["tags"]
    return tags.get("qc"), tags.get("vc-policy")


def test_the_hook_retags_a_vm_after_onevm_update_reading_only_its_volumes(stack):
    deploy(stack)
    assert managed(stack, "one-img-5-7-0") == ("silver", "daily")
    assert managed(stack, "one-img-6") == ("img-gold", "daily")
    assert update_vm(stack, 7, 'VC_POLICY="weekly"\nSP_QOSCLASS="bronze;1:gold"')[0] is True
    stack.ctl.reset_calls()
    r = stack.run("hook", "retag", stdin=stack.oned.api_argument("one.vm.update").encode())
    assert r.ok, r
    assert stack.ctl.counts() == {"Volume": 4, "VolumeUpdate": 3}  # 3 disks + the NVRAM it does not have
    assert managed(stack, "one-img-5-7-0") == ("bronze", "weekly")
    assert managed(stack, "one-img-6") == ("gold", "weekly")  # the VM's per-disk class beats the image's
    assert managed(stack, "one-sys-7-2-raw") == ("bronze", "weekly")
    assert stack.volume("one-img-5-7-0")["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "diskid": "0",
                                                     "type": "NPERS", "qc": "bronze", "vc-policy": "weekly"}
    assert "VM 7: one-img-6 qc: img-gold -> gold" in r.stdout.splitlines()
    # the same event again changes nothing; an emptied VC_POLICY removes the tag
    stack.ctl.reset_calls()
    assert stack.run("hook", "retag", stdin=stack.oned.api_argument("one.vm.update").encode()).ok
    assert "VolumeUpdate" not in stack.ctl.counts()
    assert update_vm(stack, 7, 'VC_POLICY=""')[0] is True
    r = stack.run("hook", "retag", base64.b64decode(stack.oned.api_argument("one.vm.update")).decode())
    assert r.ok, r
    assert "vc-policy" not in stack.volume("one-img-5-7-0")["tags"]


def test_the_hook_ignores_a_failed_update_and_refuses_garbage_in_one_line(stack):
    deploy(stack)
    assert update_vm(stack, 99, 'VC_POLICY="weekly"')[0] is False  # no VM 99: oned changed nothing
    stack.ctl.reset_calls()
    r = stack.run("hook", "retag", stdin=stack.oned.api_argument("one.vm.update").encode())
    assert r.ok and r.stdout == "", r
    assert stack.ctl.counts() == {}
    for garbage in (b"", b"not base64 !!", base64.b64encode(b"<CALL_INFO><RESULT>1</RESULT></CALL_INFO>")):
        r = stack.run("hook", "retag", stdin=garbage)
        assert r.code != 0 and len(r.error_lines) == 1 and "Traceback" not in r.stderr, r
        assert r.error_lines[0].startswith("hook retag: ") and "bad input" in r.error_lines[0]
    assert managed(stack, "one-img-5-7-0") == ("silver", "daily")


def test_retag_all_dry_run_lists_then_datastore_applies_from_one_listing(stack):
    deploy(stack)
    stack.put_image(8)  # a free image: its volume follows its datastore's class
    stack.put_image(9, create_volume=False)
    stack.sp.volume_create("one-img-9", size=1024 * 1024, tags={"virt": "one", "nloc": "two"})  # not ours
    stack.put_datastore(100, kind="IMAGE", sp={"QOSCLASS": "ds-class"})
    update_vm(stack, 7, 'SP_QOSCLASS="tier2"')
    before = {name: stack.volume(name)["tags"] for name in stack.volume_names()}
    code, out, err = onesp(stack, "retag", "--all", "--dry-run")
    assert code == 0, err
    assert {name: stack.volume(name)["tags"] for name in stack.volume_names()} == before
    lines = out.splitlines()
    assert any(line.split()[:4] == ["would", "set", "one-img-5-7-0", "disk"] and "qc: silver -> tier2" in line
               for line in lines), out
    assert any("one-img-8" in line and "qc: (none) -> ds-class" in line for line in lines), out
    assert any(line.startswith("skipped   one-img-9: not tagged as this instance's (nloc=two)") for line in lines)
    assert lines[-1].endswith("(dry run: nothing changed)")
    stack.ctl.reset_calls()
    code, out, err = onesp(stack, "retag", "--datastore", "100", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert sorted((c["volume"], c["tag"], c["new"]) for c in report["changes"]) == [
        ("one-img-5", "qc", "ds-class"), ("one-img-5-7-0", "qc", "tier2"), ("one-img-8", "qc", "ds-class"),
        ("one-sys-7-2-raw", "qc", "tier2")]  # one-img-6 keeps img-gold: a persistent image's class beats the VM's
    assert stack.ctl.counts() == {"VolumesList": 1, "VolumeUpdate": 4}
    assert managed(stack, "one-img-8") == ("ds-class", None)
    assert stack.volume("one-img-9")["tags"] == {"virt": "one", "nloc": "two"}


def test_audit_reports_a_vc_policy_mismatch_until_retag_fixes_it(stack):
    deploy(stack)
    update_vm(stack, 7, 'VC_POLICY="weekly"')
    code, out, _ = onesp(stack, "audit", "--json")
    findings = {f["object"]: f["detail"] for f in json.loads(out)["findings"] if f["kind"] == "tags"}
    assert findings == {name: "vc-policy=daily (expected weekly)"
                        for name in ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw")}
    assert onesp(stack, "retag", "--vm", "7")[0] == 0
    code, out, err = onesp(stack, "audit")
    assert code == 0, out + err


def test_retag_needs_exactly_one_selection(stack):
    for argv in ((), ("--all", "--vm", "7")):
        code, out, err = onesp(stack, "retag", *argv)
        assert code == 2 and "exactly one of --vm ID, --datastore ID, --all" in err
    code, _, err = onesp(stack, "retag", "--vm", "42")
    assert code == 1 and err.strip().splitlines() == [err.strip()] and "not found" in err


def test_a_failed_update_undoes_the_vms_earlier_changes_and_says_so_in_one_line(stack):
    deploy(stack)
    update_vm(stack, 7, 'VC_POLICY="weekly"')
    stack.ctl.inject_fault("VolumeUpdate", error="invalidParam", skip=1, descr="injected")
    r = stack.run("hook", "retag", stdin=stack.oned.api_argument("one.vm.update").encode())
    assert r.code != 0 and len(r.error_lines) == 1, r
    assert "tag volume one-img-6: invalid parameter: injected (rolled back" in r.error_lines[0]
    for name in ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw"):
        assert managed(stack, name)[1] == "daily", name


def test_a_vm_whose_policy_cannot_be_a_tag_fails_alone(stack):
    deploy(stack)
    stack.put_image(8)
    stack.put_datastore(100, kind="IMAGE", sp={"QOSCLASS": "ds-class"})
    stack.put_image(6, persistent=True, create_volume=False)  # no class of its own any more
    update_vm(stack, 7, 'VC_POLICY="two words"')
    code, out, err = onesp(stack, "retag", "--all")
    assert code == 1, out + err
    assert any(line.startswith("failed    VM 7: bad input: invalid value 'two words' for StorPool tag vc-policy")
               for line in out.splitlines()), out
    assert managed(stack, "one-img-5-7-0") == ("silver", "daily")  # VM 7 untouched
    assert managed(stack, "one-img-6") == ("img-gold", "daily")  # its persistent disk is not a free image
    assert managed(stack, "one-img-8") == ("ds-class", None)  # the rest done
    r = stack.run("hook", "retag", stdin=stack.oned.api_argument("one.vm.update").encode())
    assert r.code != 0 and len(r.error_lines) == 1 and "two words" in r.error_lines[0], r

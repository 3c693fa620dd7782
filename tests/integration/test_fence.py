"""onesp fence: a failed host's StorPool client loses every attachment, then its VMs are
recreated on another host by the transfer lines oned runs for ``onevm recover --recreate``.

A dead host is made the way a real one looks to the front-end: ssh to it fails (exit 255).
The hosts are reached through a stand-in ``ssh`` that runs the script locally for a live host
and answers "No route to host" for a dead one; everything else is the real command line.
"""

import base64
import json
import os
import subprocess
import sys

MIB = 1024 * 1024
VM_VOLUMES = ("one-img-5-7-0", "one-img-6", "one-sys-7-2-raw")
#: LCM state CLEANUP_RESUBMIT: oned cleans a VM up to deploy it again (recover --recreate).
CLEANUP_RESUBMIT = 15

FAKE_SSH = """#!/bin/sh
# stand-in for ssh, called as: ssh -o BatchMode=yes -- HOST SCRIPT
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
host="$1"
shift
case " %s " in
  *" $host "*) echo "ssh: connect to host $host port 22: No route to host" >&2; exit 255 ;;
esac
ONESP_HOST="$host" exec sh -c "$1"
"""


def dead(stack, *hosts):
    """The environment in which ``hosts`` no longer answer over ssh (the others still do)."""
    path = stack.root / ("ssh-%s" % "-".join(hosts))
    path.write_text(FAKE_SSH % " ".join(hosts))
    path.chmod(0o755)
    return {"ONESP_HOST_EXEC": "ssh", "ONESP_SSH": str(path)}


def onesp(stack, *argv, env=None, stdin=b""):
    r = subprocess.run([sys.executable, "-m", "onesp", *argv], input=stdin, capture_output=True,
                       env=dict(stack.env, **(env or {})), timeout=120)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def disks(stack):
    b = stack.b
    return [b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16), b.volatile_disk(2, 16)]


def prolog(stack, host, env=None):
    for line in (("clone", "fe:one-ds-100/one-img-5", stack.disk_path(host, 7, 0), "7", "100"),
                 ("ln", "fe:one-ds-100/one-img-6", stack.disk_path(host, 7, 1), "7", "100"),
                 ("mkimage", "16", "raw", stack.disk_path(host, 7, 2), "7", "101")):
        r = stack.tm(*line, env=env)
        assert r.ok, (line, r)


def running_on_node1(stack):
    """VM 7 deployed on node1, its guest has written to the persistent disk and holds every device open;
    node1 also holds VM 8's disk and a snapshot attached read-only."""
    stack.put_image(5, data=b"os image")
    stack.put_image(6, persistent=True)
    stack.put_vm(7, disks=disks(stack), context=False)
    prolog(stack, "node1")
    with open(stack.local_disk(7, 1), "r+b") as dev:
        dev.write(b"DATABASE written on node1")
    stack.sp.volume_create("one-img-5-8-0", base_on="one-img-5", tags={"virt": "one", "nloc": "one", "nvm": "8"})
    stack.sp.attach("one-img-5-8-0", 1)
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap0")
    stack.sp.attach("one-img-5-snap0", 1, snapshot=True)
    for name in VM_VOLUMES + ("one-img-5-8-0",):
        stack.ctl.set_open(name, 1)


def on_client(stack, client):
    return sorted(a["volume"] for a in stack.attachments() if int(a["client"]) == client)


def test_fenced_host_keeps_nothing_and_the_recreated_vm_finds_its_data_on_node2(stack):
    running_on_node1(stack)
    assert on_client(stack, 1) == sorted(VM_VOLUMES + ("one-img-5-8-0", "one-img-5-snap0"))
    node1_dead = dead(stack, "node1")
    stack.ctl.reset_calls()
    stack.oned.reset_calls()

    code, out, err = onesp(stack, "fence", "node1", env=node1_dead)
    assert code == 0, err
    assert stack.ctl.counts() == {"ServicesList": 1, "AttachmentsList": 1, "VolumesReassignWait": 1}
    assert on_client(stack, 1) == []
    assert set(stack.oned.call_log().counts) <= {"one.host.info", "one.hostpool.info"}
    assert "fenced, detached 4 volumes and 1 snapshots" in out
    assert "No route to host" in out and "running in StorPool" in out
    log = stack.log_text()
    for name in VM_VOLUMES + ("one-img-5-8-0",):
        assert "onesp_fence" in log and "fence node1: detached volume %s (rw) from client 1" % name in log
    assert "fence node1: detached snapshot one-img-5-snap0 (ro) from client 1" in log

    stack.ctl.reset_calls()
    code, out, err = onesp(stack, "fence", "node1", env=node1_dead)  # repeat: nothing left to do
    assert code == 0, err
    assert "nothing attached, nothing to do" in out
    assert "VolumesReassignWait" not in stack.ctl.counts()

    # onevm recover --recreate: oned cleans up on node1 (unreachable) ...
    stack.put_vm(7, disks=disks(stack), context=False, lcm_state=CLEANUP_RESUBMIT)
    for line in (("delete", stack.disk_path("node1", 7, 0), "7", "100"),
                 ("delete", stack.disk_path("node1", 7, 1), "7", "100"),
                 ("delete", stack.disk_path("node1", 7, 2), "7", "101"),
                 ("delete", stack.vm_dir("node1", 7), "7", "101")):
        r = stack.tm(*line, env=node1_dead)
        assert r.ok, (line, r)
    # ... and deploys the VM again on node2
    stack.put_vm(7, disks=disks(stack), context=False,
                 history=(stack.b.history("node1", hid=1), stack.b.history("node2", hid=2)))
    prolog(stack, "node2", env=node1_dead)

    for name in VM_VOLUMES:
        assert stack.clients_of(name) == {2: "rw"}, name
    assert on_client(stack, 1) == []
    with open(stack.local_disk(7, 1), "rb") as dev:  # node2's disk.1
        assert dev.read(25) == b"DATABASE written on node1"
    assert os.readlink(stack.local_disk(7, 1)) == str(stack.dev_dir / "one-img-6")


def test_a_host_that_answers_is_refused_unless_forced(stack):
    running_on_node1(stack)
    before = stack.attachments()
    stack.ctl.reset_calls()
    code, out, err = onesp(stack, "fence", "node1")  # node1 answers: HOST_EXEC=local runs `true`
    assert code == 1
    assert err.strip().splitlines() == [
        "Error: busy: host node1 still answers over ssh: a live host is not fenced "
        "(use --force if its VMs must lose their disks anyway)"]
    assert stack.attachments() == before
    assert "VolumesReassignWait" not in stack.ctl.counts()

    code, out, err = onesp(stack, "fence", "node1", "--dry-run", "--force")
    assert code == 0, err
    assert "would detach 4 volumes and 1 snapshots (dry run)" in out
    assert stack.attachments() == before

    code, out, err = onesp(stack, "fence", "node1", "--force", "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["answered"] is True and len(outcome["detached"]) == 5
    assert on_client(stack, 1) == []
    assert on_client(stack, 2) == []


def test_the_hook_document_on_stdin_names_host_and_client_without_asking_oned(stack):
    running_on_node1(stack)
    host_xml = stack.b.host_xml(1, "node1", sp_ourid=1, state=3)
    stack.oned.reset_calls()
    code, out, err = onesp(stack, "fence", "-", env=dead(stack, "node1"), stdin=base64.b64encode(host_xml.encode()))
    assert code == 0, err
    assert on_client(stack, 1) == []
    assert stack.oned.call_log().counts == {}
    assert "host node1 (StorPool client 1" in out


def test_bad_input_is_one_line_and_changes_nothing(stack):
    running_on_node1(stack)
    before = stack.attachments()
    for argv, stdin, expected in ((("fence", "node1;reboot"), b"", "Error: bad input: invalid host name 'node1;reboot'"),
                                  (("fence", "node9"), b"", "Error: not found: "),
                                  (("fence", "-"), b"not base64 !", "Error: bad input: host document is not valid base64")):
        code, out, err = onesp(stack, *argv, env=dead(stack, "node1", "node9"), stdin=stdin)
        assert code == 1, (argv, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), (argv, err)
        assert "Traceback" not in err
    assert stack.attachments() == before


def test_an_object_deleted_meanwhile_does_not_stop_the_rest(stack):
    running_on_node1(stack)
    # StorPool refuses the whole request when one object of it has just been deleted
    stack.ctl.inject_fault("VolumesReassignWait", error="objectDoesNotExist", descr="volume one-img-5-8-0 does not exist")
    stack.ctl.reset_calls()
    code, out, err = onesp(stack, "fence", "node1", env=dead(stack, "node1"))
    assert code == 0, err
    assert stack.ctl.counts()["VolumesReassignWait"] == 1 + 5  # the refused one, then one per object
    assert on_client(stack, 1) == []
    assert "fenced, detached 4 volumes and 1 snapshots" in out

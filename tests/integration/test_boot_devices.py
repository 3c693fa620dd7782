"""What QEMU opens is the StorPool device, with no deploy tweak: the paths oned writes into the
libvirt domain resolve to the attached volumes after every lifecycle step.

oned (LibVirtDriverKVM.cc) writes ``<source dev=<vm dir>/disk.<n>>`` for disks and the context
CD-ROM, and ``<nvram><vm dir>/<vm name>_VARS.fd</nvram>`` for a VM with OS/FIRMWARE. Hosts
have private datastores directories (stack.private_hosts), the front-end ("fe") is a host of
its own, so each step really has to make its links on the host it names.
"""

import base64
import os

import pytest

VARS = b"OVMF-VARS-TEMPLATE" + b"\0" * 4078
NAME = "web server 1"  # oned allows spaces in a VM name
NVRAM = "one-sys-7-NVRAM"
MIGRATE, UNDEPLOY, UNDEPLOY_RESUME, LIVE = 8, 30, 31, 4


@pytest.fixture
def uefi_vm(stack):
    """VM 7 named NAME: volatile disk 0, context disk 1, NVRAM from a template under OVMF_PATH."""
    stack.private_hosts()
    ovmf = stack.root / "OVMF"
    ovmf.mkdir()
    (ovmf / "OVMF_VARS.fd").write_bytes(VARS)
    stack.env["ONESP_OVMF_PATH"] = str(ovmf)
    context_sh = stack.root / "vms" / "7" / "context.sh"
    context_sh.parent.mkdir(parents=True)
    context_sh.write_text("HOSTNAME='web'\n")
    return context_sh


def put(stack, lcm, hosts):
    b = stack.b
    history = tuple(b.history(h, hid=int(h[-1])) for h in hosts)
    return stack.put_vm(7, name=NAME, disks=[b.volatile_disk(0, 16)], lcm_state=lcm, history=history,
                        user_template={"T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"})


def resolves(stack, host, entry, volume):
    """``<host's vm dir>/<entry>`` is a link to ``volume``'s device, and that device is there."""
    path = stack.host_root(host) / "101" / "7" / entry
    return os.readlink(path) == str(stack.dev_dir / volume) and os.path.exists(path)


def oned_paths_resolve(stack, host):
    assert resolves(stack, host, "disk.0", "one-sys-7-0-raw")
    assert resolves(stack, host, "disk.1", "one-sys-7-1-iso")
    assert resolves(stack, host, NAME + "_VARS.fd", NVRAM)
    client = int(host[-1])
    for volume in ("one-sys-7-0-raw", "one-sys-7-1-iso", NVRAM):
        assert stack.clients_of(volume) == {client: "rw"}, volume


def move(stack, src, dst, lcm, hosts, env=None):
    put(stack, lcm, hosts)
    for r in (stack.tm("mv", stack.disk_path(src, 7, 0), stack.disk_path(dst, 7, 0), "7", "101", env=env),
              stack.tm("mv", stack.vm_dir(src, 7), stack.vm_dir(dst, 7), "7", "101", env=env)):
        assert r.ok, r


def test_nvram_volatile_and_context_paths_follow_the_vm(stack, uefi_vm):
    put(stack, 3, ["node1"])
    assert stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, 0), "7", "101").ok
    r = stack.tm("context", str(uefi_vm), stack.disk_path("node1", 7, 1), "7", "101")
    assert r.ok, r
    oned_paths_resolve(stack, "node1")
    assert stack.read_volume(NVRAM, len(VARS)) == VARS
    stack.write_volume(NVRAM, b"BOOT-ORDER")

    doc = base64.b64encode(put(stack, LIVE, ["node1", "node2"]).encode())
    for action in ("premigrate", "postmigrate"):
        r = stack.tm(action, "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", stdin=doc)
        assert r.ok, r
    oned_paths_resolve(stack, "node2")

    move(stack, "node2", "fe", UNDEPLOY, ["node1", "node2"])
    assert stack.clients_of(NVRAM) == {}
    move(stack, "fe", "node1", UNDEPLOY_RESUME, ["node1", "node2", "node1"])
    oned_paths_resolve(stack, "node1")

    move(stack, "node1", "node2", MIGRATE, ["node1", "node2", "node1", "node2"])
    oned_paths_resolve(stack, "node2")
    assert stack.read_volume(NVRAM, 10) == b"BOOT-ORDER"  # the same NVRAM all along


    # no NVRAM volume (gone, or never made by tm context): a resume links no device that will
    # not appear — libvirt would otherwise create a file through the dangling link (shared
    # system datastore: no directory copy brings old links along)
    move(stack, "node2", "fe", UNDEPLOY, ["node1", "node2", "node1", "node2"])
    stack.sp.volume_delete(NVRAM)
    move(stack, "fe", "node1", UNDEPLOY_RESUME, ["node1", "node2", "node1", "node2", "node1"],
         env={"ONESP_SP_SYSTEM": "shared"})
    assert resolves(stack, "node1", "disk.0", "one-sys-7-0-raw")
    assert not os.path.lexists(stack.host_root("node1") / "101" / "7" / (NAME + "_VARS.fd"))

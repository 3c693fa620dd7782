"""What QEMU opens at each start needs no deploy tweak: disk paths resolve to the StorPool
devices, and the UEFI NVRAM path is a regular file holding the NVRAM volume's bytes.

oned (LibVirtDriverKVM.cc) writes ``<source dev=<vm dir>/disk.<n>>`` for disks and the context
CD-ROM, and ``<nvram><vm dir>/<vm name>_VARS.fd</nvram>`` for a VM with OS/FIRMWARE: a plain
``<nvram>`` is libvirt's source type file, which QEMU opens with its file driver, and that
driver refuses a block device (so the NVRAM path must be a regular file). Hosts have private
datastores directories (stack.private_hosts), the front-end ("fe") is a host of its own, so
each step really has to do its work on the host it names. "The guest" writes its NVRAM into
the file on the host it runs on, as QEMU does.
"""

import base64
import os
import shutil
import stat

import pytest

VARS = b"OVMF-VARS-TEMPLATE" + b"\0" * 4078  # 4 KiB, a whole number of sectors as every VARS file is
NAME = "web server 1"  # oned allows spaces in a VM name
NVRAM = "one-sys-7-NVRAM"
PROLOG, LIVE, MIGRATE, UNDEPLOY, UNDEPLOY_RESUME, MIGRATE_UNKNOWN = 1, 4, 8, 30, 31, 60


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


def nvram_path(stack, host):
    return stack.host_root(host) / "101" / "7" / (NAME + "_VARS.fd")


def nvram_file(stack, host):
    """The bytes of the NVRAM file on ``host``; fails unless it is a regular file."""
    path = nvram_path(stack, host)
    assert stat.S_ISREG(os.lstat(path).st_mode), "%s is not a regular file" % path
    return path.read_bytes()


def guest_writes(stack, host, data):
    """The guest changes its UEFI variables: QEMU writes into the NVRAM file on its host."""
    with open(nvram_path(stack, host), "r+b") as f:
        f.write(data)


def resolves(stack, host, entry, volume):
    """``<host's vm dir>/<entry>`` is a link to ``volume``'s device, and that device is there."""
    path = stack.host_root(host) / "101" / "7" / entry
    return os.readlink(path) == str(stack.dev_dir / volume) and os.path.exists(path)


def started_on(stack, host, nvram):
    """What the domain on ``host`` opens: its disks' devices, and the NVRAM volume's bytes in a file."""
    assert resolves(stack, host, "disk.0", "one-sys-7-0-raw")
    assert resolves(stack, host, "disk.1", "one-sys-7-1-iso")
    client = int(host[-1])
    for volume in ("one-sys-7-0-raw", "one-sys-7-1-iso", NVRAM):
        assert stack.clients_of(volume) == {client: "rw"}, volume
    assert nvram_file(stack, host) == nvram
    assert stack.read_volume(NVRAM, len(VARS) + 1) == nvram  # the volume holds exactly that


def move(stack, src, dst, lcm, hosts, env=None):
    put(stack, lcm, hosts)
    for r in (stack.tm("mv", stack.disk_path(src, 7, 0), stack.disk_path(dst, 7, 0), "7", "101", env=env),
              stack.tm("mv", stack.vm_dir(src, 7), stack.vm_dir(dst, 7), "7", "101", env=env)):
        assert r.ok, r


def deploy(stack, context_sh, host, hosts):
    put(stack, PROLOG, hosts)
    assert stack.tm("mkimage", "16", "raw", stack.disk_path(host, 7, 0), "7", "101").ok
    r = stack.tm("context", str(context_sh), stack.disk_path(host, 7, 1), "7", "101")
    assert r.ok, r


def with_guest_bytes(text):
    return text + VARS[len(text):]


def test_nvram_lives_on_its_volume_through_the_lifecycle(stack, uefi_vm):
    deploy(stack, uefi_vm, "node1", ["node1"])
    started_on(stack, "node1", VARS)
    guest_writes(stack, "node1", b"BOOT-ORDER-1")

    doc = base64.b64encode(put(stack, LIVE, ["node1", "node2"]).encode())
    for action in ("premigrate", "postmigrate"):
        r = stack.tm(action, "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", stdin=doc)
        assert r.ok, r
    started_on(stack, "node2", with_guest_bytes(b"BOOT-ORDER-1"))  # premigrate saved it to the volume too
    guest_writes(stack, "node2", b"BOOT-ORDER-2")

    move(stack, "node2", "fe", UNDEPLOY, ["node1", "node2"])
    assert stack.clients_of(NVRAM) == {}
    assert stack.read_volume(NVRAM, len(VARS) + 1) == with_guest_bytes(b"BOOT-ORDER-2")
    move(stack, "fe", "node1", UNDEPLOY_RESUME, ["node1", "node2", "node1"])
    started_on(stack, "node1", with_guest_bytes(b"BOOT-ORDER-2"))
    guest_writes(stack, "node1", b"BOOT-ORDER-3")

    move(stack, "node1", "node2", MIGRATE, ["node1", "node2", "node1", "node2"])
    started_on(stack, "node2", with_guest_bytes(b"BOOT-ORDER-3"))
    assert not os.path.lexists(stack.host_root("node1") / "101" / "7")
    guest_writes(stack, "node2", b"BOOT-ORDER-4")  # never saved: node2 dies before the next save point

    # node2 fails and the VM is migrated away from it (PROLOG_MIGRATE_UNKNOWN): the volume's NVRAM
    shutil.rmtree(stack.host_root("node2") / "101" / "7")
    move(stack, "node2", "node1", MIGRATE_UNKNOWN, ["node1", "node2", "node1", "node2", "node1"])
    started_on(stack, "node1", with_guest_bytes(b"BOOT-ORDER-3"))
    guest_writes(stack, "node1", b"BOOT-ORDER-5")

    # node1 fails and the VM is recreated on node2: tm context there starts it from the volume
    shutil.rmtree(stack.host_root("node1") / "101" / "7")
    stack.sp.detach("one-sys-7-0-raw", "all", force=True)
    stack.sp.detach("one-sys-7-1-iso", "all", force=True)
    stack.sp.detach(NVRAM, "all", force=True)
    stack.sp.volume_delete("one-sys-7-0-raw")  # epilog_delete's tm delete removed the volatile disk
    deploy(stack, uefi_vm, "node2", ["node1", "node2", "node1", "node2", "node1", "node2"])
    started_on(stack, "node2", with_guest_bytes(b"BOOT-ORDER-3"))

    # no NVRAM volume (gone, or never made by tm context): a resume writes no NVRAM file
    move(stack, "node2", "fe", UNDEPLOY, ["node2"])
    stack.sp.volume_delete(NVRAM)
    move(stack, "fe", "node1", UNDEPLOY_RESUME, ["node2", "node1"], env={"ONESP_SP_SYSTEM": "shared"})
    assert resolves(stack, "node1", "disk.0", "one-sys-7-0-raw")
    assert not os.path.lexists(nvram_path(stack, "node1"))


def test_a_context_refresh_leaves_the_running_vms_nvram_file_alone(stack, uefi_vm):
    """tm context also runs for a VM that has a domain on the host (a NIC attached, a context
    update): its NVRAM file is the one QEMU has open, newer than the volume."""
    deploy(stack, uefi_vm, "node1", ["node1"])
    guest_writes(stack, "node1", b"BOOT-ORDER-1")
    inode = os.lstat(nvram_path(stack, "node1")).st_ino
    put(stack, 25, ["node1"])  # HOTPLUG_NIC
    r = stack.tm("context", str(uefi_vm), stack.disk_path("node1", 7, 1), "7", "101")
    assert r.ok, r
    assert nvram_file(stack, "node1") == with_guest_bytes(b"BOOT-ORDER-1")
    assert os.lstat(nvram_path(stack, "node1")).st_ino == inode


def test_a_symlink_at_the_nvram_path_is_replaced_never_followed(stack, uefi_vm):
    canary = stack.root / "canary"
    canary.write_bytes(b"not the NVRAM")
    os.makedirs(nvram_path(stack, "node1").parent)
    os.symlink(str(canary), str(nvram_path(stack, "node1")))
    deploy(stack, uefi_vm, "node1", ["node1"])
    started_on(stack, "node1", VARS)
    assert canary.read_bytes() == b"not the NVRAM"

    # a symlink where a save looks holds nothing to save: the volume keeps its NVRAM
    stack.write_volume(NVRAM, b"SAVED-EARLIER")
    os.unlink(str(nvram_path(stack, "node1")))
    os.symlink(str(canary), str(nvram_path(stack, "node1")))
    move(stack, "node1", "node2", MIGRATE, ["node1", "node2"])
    assert canary.read_bytes() == b"not the NVRAM"
    started_on(stack, "node2", with_guest_bytes(b"SAVED-EARLIER"))

    # and on the destination of a resume, a symlink there is replaced as well
    move(stack, "node2", "fe", UNDEPLOY, ["node1", "node2"])
    os.makedirs(nvram_path(stack, "node1").parent, exist_ok=True)
    os.symlink(str(canary), str(nvram_path(stack, "node1")))
    move(stack, "fe", "node1", UNDEPLOY_RESUME, ["node1", "node2", "node1"], env={"ONESP_SP_SYSTEM": "shared"})
    started_on(stack, "node1", with_guest_bytes(b"SAVED-EARLIER"))
    assert canary.read_bytes() == b"not the NVRAM"


def test_the_undo_of_a_failed_context_removes_the_nvram_file_it_made(stack, uefi_vm):
    """The last step of tm context (detaching the VM's volumes from its earlier host) fails:
    everything it made goes, the NVRAM file with it."""
    put(stack, PROLOG, ["node2", "node1"])
    assert stack.tm("mkimage", "16", "raw", stack.disk_path("node1", 7, 0), "7", "101").ok
    stack.sp.attach("one-sys-7-0-raw", 2)
    before = stack.state()
    stack.ctl.reset_calls()
    r = stack.tm("context", str(uefi_vm), stack.disk_path("node1", 7, 1), "7", "101")
    assert r.ok, r
    assert nvram_file(stack, "node1") == VARS
    reassigns = [c for c in stack.ctl.calls() if c["call"] == "VolumesReassignWait"]
    for name in (NVRAM, "one-sys-7-1-iso"):
        stack.sp.detach(name, "all", force=True)
        stack.sp.volume_delete(name)
    stack.sp.attach("one-sys-7-0-raw", 2)
    os.unlink(str(nvram_path(stack, "node1")))
    os.unlink(str(stack.host_root("node1") / "101" / "7" / "disk.1"))
    os.unlink(str(stack.host_root("node1") / "101" / "7" / "disk.1.monitor"))
    assert stack.state() == before
    stack.ctl.inject_fault("VolumesReassignWait", error="invalidParam", descr="injected", skip=len(reassigns) - 1)
    r = stack.tm("context", str(uefi_vm), stack.disk_path("node1", 7, 1), "7", "101")
    stack.ctl.clear_faults()
    assert r.code != 0 and r.error_lines == ["tm context: detach one-sys-7-0-raw, one-sys-7-NVRAM, one-sys-7-1-iso "
                                             "from other hosts (clients 2): invalid parameter: injected"], r
    assert stack.state() == before
    assert sorted(os.listdir(nvram_path(stack, "node1").parent)) == ["disk.0", "disk.0.monitor"]


def test_the_volume_keeps_the_nvram_at_its_exact_size(stack, uefi_vm):
    """The volume's size is the NVRAM's: a template that cannot be held byte for byte is
    refused; a file of another size (a VM that booted from the host's own variables) makes
    the volume that size at its save, and the next start gets exactly that file back."""
    (stack.root / "OVMF" / "odd.fd").write_bytes(b"x" * 1000)
    stack.put_vm(7, name=NAME, disks=[stack.b.volatile_disk(0, 16)], lcm_state=PROLOG,
                 user_template={"T_OS_NVRAM": "storpool:template=odd.fd"})
    r = stack.tm("context", str(uefi_vm), stack.disk_path("node1", 7, 1), "7", "101")
    assert r.error_lines == ["tm context: read the NVRAM template of VM 7: bad input: T_OS_NVRAM template odd.fd "
                             "is 1000 bytes, not a whole number of 512-byte sectors"]
    assert stack.volume_names() == []

    deploy(stack, uefi_vm, "node1", ["node1"])
    assert stack.volume(NVRAM)["size"] == len(VARS)
    host_vars = b"HOST-OWN-VARS" + b"\1" * (3 * 4096 - 13)
    nvram_path(stack, "node1").write_bytes(host_vars)
    move(stack, "node1", "fe", UNDEPLOY, ["node1"])
    assert stack.volume(NVRAM)["size"] == len(host_vars)
    move(stack, "fe", "node2", UNDEPLOY_RESUME, ["node1", "node2"])
    assert nvram_file(stack, "node2") == host_vars

    nvram_path(stack, "node2").write_bytes(b"y" * 5000)
    put(stack, UNDEPLOY, ["node1", "node2"])
    before = stack.state()
    r = stack.tm("mv", stack.vm_dir("node2", 7), stack.vm_dir("fe", 7), "7", "101")
    seen_by_host = "%s/101/7/%s_VARS.fd" % (stack.ds_location, NAME)
    assert r.error_lines == ["tm mv: save the NVRAM of VM 7 from %s on node2 to %s: bad input: NVRAM file %s on "
                             "node2 is 5000 bytes, not a whole number of 512-byte sectors"
                             % (seen_by_host, NVRAM, seen_by_host)]
    assert stack.state() == before
    assert stack.read_volume(NVRAM, len(host_vars) + 1) == host_vars


def test_live_migration_without_a_directory_copy_writes_the_file_on_the_destination(stack, uefi_vm):
    """SP_SYSTEM=shared on hosts whose directories are not shared: nothing brings the file
    along, so premigrate writes it from the volume it has just saved it to."""
    deploy(stack, uefi_vm, "node1", ["node1"])
    guest_writes(stack, "node1", b"BOOT-ORDER-1")
    doc = base64.b64encode(put(stack, LIVE, ["node1", "node2"]).encode())
    r = stack.tm("premigrate", "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", stdin=doc,
                 env={"ONESP_SP_SYSTEM": "shared"})
    assert r.ok, r
    assert nvram_file(stack, "node2") == with_guest_bytes(b"BOOT-ORDER-1")
    assert nvram_file(stack, "node1") == with_guest_bytes(b"BOOT-ORDER-1")

    # a VM the addon deployed opens the device itself (<nvram type='block'>) and has no file:
    # none is made for it, which a later save would write over what it changed on the device
    for host in ("node1", "node2"):
        os.unlink(str(nvram_path(stack, host)))
    stack.write_volume(NVRAM, b"ON-THE-DEVICE")
    r = stack.tm("premigrate", "node1", "node2", "%s/101/7" % stack.ds_location, "7", "101", stdin=doc,
                 env={"ONESP_SP_SYSTEM": "shared"})
    assert r.ok, r
    assert not os.path.lexists(nvram_path(stack, "node2"))
    assert stack.read_volume(NVRAM, 13) == b"ON-THE-DEVICE"


def test_a_move_to_another_system_datastore_on_one_host_saves_the_nvram_the_domain_uses(stack, uefi_vm):
    """OpenNebula 7.2+ moves a running VM to system datastore 102 on its own host: the domain
    keeps using the NVRAM file in 101's directory, so that one is saved, and the new directory
    gets the file its next deploy will open."""
    deploy(stack, uefi_vm, "node1", ["node1"])
    guest_writes(stack, "node1", b"BOOT-ORDER-1")
    stack.put_datastore(102, kind="SYSTEM")
    stack.sp.template_create("one-ds-102", replication=3, placeAll="default", placeTail="default")
    b = stack.b
    history = (b.history("node1", hid=1, ds_id=101), b.history("node1", hid=1, ds_id=102))
    xml = stack.put_vm(7, name=NAME, disks=[b.volatile_disk(0, 16)], lcm_state=LIVE, history=history,
                       user_template={"T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"})
    r = stack.tm("premigrate", "node1", "node1", "%s/102/7" % stack.ds_location, "7", "102",
                 stdin=base64.b64encode(xml.encode()))
    assert r.ok, r
    assert stack.read_volume(NVRAM, len(VARS) + 1) == with_guest_bytes(b"BOOT-ORDER-1")
    moved = stack.host_root("node1") / "102" / "7" / (NAME + "_VARS.fd")
    assert stat.S_ISREG(os.lstat(moved).st_mode) and moved.read_bytes() == with_guest_bytes(b"BOOT-ORDER-1")
    assert nvram_file(stack, "node1") == with_guest_bytes(b"BOOT-ORDER-1")  # the running domain's, untouched
    assert stack.clients_of(NVRAM) == {1: "rw"}

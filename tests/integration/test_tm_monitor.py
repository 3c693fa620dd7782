"""tm monitor, run as the DS MAD runs it for a StorPool system datastore.

VM disk sizes go to monitord over UDP; the test listens where monitord.conf says.
"""

import base64
import random
import re
import socket
import zlib

import pytest

from onesp.actions.tm import _monitoring as monitoring

MIB = 1024 * 1024
TAGS = {"virt": "one", "nloc": "one"}


@pytest.fixture
def monitord(tmp_path):
    """A UDP socket standing in for monitord, and the monitord.conf pointing at it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    conf = tmp_path / "monitord.conf"
    conf.write_text('NETWORK = [\n    ADDRESS = "0.0.0.0",\n    PORT = %d,\n    THREADS = 8,\n    PUBKEY = "",\n'
                    '    PRIKEY = "",\n    MONITOR_ADDRESS = "auto"\n]\n' % sock.getsockname()[1])
    yield sock, conf
    sock.close()


def received(sock, wait=2.0):
    """{vm id: [payload lines]} from every MONITOR_VM datagram that arrived."""
    sock.settimeout(wait)
    out = {}
    while True:
        try:
            data = sock.recv(1 << 17).decode("ascii")
        except socket.timeout:
            return out
        sock.settimeout(0.3)
        kind, result, host, stamp, body = data.split()
        assert (kind, result, host, stamp) == ("MONITOR_VM", "SUCCESS", "-1", "0")
        for line in zlib.decompress(base64.b64decode(body)).decode("ascii").splitlines():
            vm_id, encoded = re.match(r'VM=\[ID=(\d+),MONITOR="([A-Za-z0-9+/=]*)"\]\Z', line).groups()
            assert int(vm_id) not in out
            out[int(vm_id)] = base64.b64decode(encoded).decode("ascii").splitlines()


def monitor(stack, conf, vm_disks=True, ds_xml=None, **env):
    action = stack.ds_action(ds_xml or stack.system_ds_xml, monitor_vm_disks=vm_disks,
                             datastore_location=str(stack.ds_location))
    env = dict({"ONESP_MONITORD_CONF": str(conf)}, **env)
    return stack.tm("monitor", "101", stdin=action, env=env)


def expected_capacity(stack, template="one-ds-101"):
    stored = next(t for t in stack.sp.templates_status() if t["name"] == template)["stored"]
    total, free = stored["capacity"], stored["free"]
    return "USED_MB=%d\nTOTAL_MB=%d\nFREE_MB=%d\n" % ((total - free) // MIB, total // MIB, free // MIB)


def test_capacity_only_when_oned_does_not_ask_for_vm_disks(stack, monitord):
    sock, conf = monitord
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16)])
    stack.sp.volume_create("one-sys-7-0-raw", size=16 * MIB, template="one-ds-101", tags=TAGS)
    stack.write_volume("one-sys-7-0-raw", b"x" * (2 * MIB))
    stack.ctl.reset_calls()
    stack.oned.reset_calls()
    r = monitor(stack, conf, vm_disks=False)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumeTemplatesStatus": 1} and stack.oned.call_log().counts == {}
    assert r.stdout == expected_capacity(stack)
    assert "USED_MB=2\n" in r.stdout
    assert received(sock, wait=0.3) == {}


def test_no_vm_on_the_datastore_no_space_answer_is_read(stack, monitord):
    """VolumesSpace and SnapshotsSpace list the whole cluster: without a VM here neither is worth reading."""
    sock, conf = monitord
    elsewhere = stack.b.history("node2", hid=2, ds_id=102)
    stack.put_vm(7, disks=[stack.b.volatile_disk(0, 16)], history=(elsewhere,))
    stack.sp.volume_create("one-sys-7-0-raw", size=16 * MIB, template="one-ds-101", tags=TAGS)
    stack.ctl.reset_calls()
    r = monitor(stack, conf)
    assert r.ok, r
    assert stack.ctl.counts() == {"VolumeTemplatesStatus": 1}
    assert r.stdout == expected_capacity(stack)
    assert received(sock, wait=0.3) == {}


def test_a_missing_template_is_one_clear_line(stack, monitord):
    sock, conf = monitord
    xml = stack.put_datastore(102, kind="SYSTEM")
    r = stack.tm("monitor", "102", stdin=stack.ds_action(xml), env={"ONESP_MONITORD_CONF": str(conf)})
    assert r.code != 0
    assert r.error_lines == ["tm monitor: read the capacity of StorPool template one-ds-102: not found: "
                             "StorPool has no template one-ds-102 (create it for this datastore)"]


def _write(stack, name, mib, offset=0):
    stack.write_volume(name, b"d" * (mib * MIB), offset * MIB)


def test_sizes_are_attributed_exactly(stack, monitord):
    """one-img-10-snap0 belongs to the disk of one-img-10, never to the disk of one-img-1."""
    sock, conf = monitord
    b = stack.b
    for image, mib in ((1, 3), (10, 5)):
        stack.put_image(image, persistent=True, size_mb=16)
        _write(stack, "one-img-%d" % image, mib)
        stack.sp.volume_snapshot("one-img-%d" % image, "one-img-%d-snap0" % image)
    _write(stack, "one-img-10", 2, offset=8)
    stack.sp.volume_snapshot("one-img-10", "one-img-10-snap1")
    stack.sp.volume_snapshot("one-img-10", "xone-img-1-snap7")  # another instance's prefix
    here = b.history("node1", hid=1, ds_id=101)
    elsewhere = b.history("node2", hid=2, ds_id=102)
    stack.put_vm(7, disks=[b.image_disk(0, 1, persistent=True, size=16)], history=(elsewhere, here))
    stack.put_vm(8, disks=[b.image_disk(0, 10, persistent=True, size=16)], state=8, lcm_state=0, history=(here,))
    stack.put_vm(9, disks=[b.image_disk(0, 1, persistent=True, size=16)], history=(here, elsewhere))  # moved away
    stack.put_vm(11, disks=[b.image_disk(0, 10, persistent=True, size=16)], state=4, lcm_state=0, history=(here,))
    r = monitor(stack, conf, ONESP_SP_SPACE_USED_LVMWAY="1")
    assert r.ok, r
    got = received(sock)
    assert sorted(got) == [7, 8]  # last history record on 101, and holding disks (ACTIVE, POWEROFF)
    stored = {s["name"]: s["storedSize"] for s in stack.sp.snapshots_space()}
    volumes = {v["name"]: v["storedSize"] for v in stack.sp.volumes_space()}
    assert stored["one-img-1-snap0"] == 3 * MIB and stored["one-img-10-snap0"] == 5 * MIB
    assert got[7] == ["DISK_SIZE=[ID=0,SIZE=%d]" % monitoring.megabytes(volumes["one-img-1"]),
                      "SNAPSHOT_SIZE=[ID=0,DISK_ID=0,SIZE=3]"]
    assert got[8] == ["DISK_SIZE=[ID=0,SIZE=%d]" % monitoring.megabytes(volumes["one-img-10"]),
                      "SNAPSHOT_SIZE=[ID=0,DISK_ID=0,SIZE=5]",
                      "SNAPSHOT_SIZE=[ID=1,DISK_ID=0,SIZE=%d]" % monitoring.megabytes(stored["one-img-10-snap1"])]


def test_every_kind_of_disk_and_vm_snapshots(stack, monitord):
    sock, conf = monitord
    b = stack.b
    stack.put_image(5, size_mb=16)
    stack.put_image(9, size_mb=16, type="CDROM")
    stack.put_vm(7, disks=[b.image_disk(0, 5, size=16), b.volatile_disk(1, 16), b.volatile_disk(2, 16, kind="swap"),
                           b.cdrom_disk(3, 9)])
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags=TAGS)
    for name in ("one-sys-7-1-raw", "one-sys-7-2-swap"):
        stack.sp.volume_create(name, size=16 * MIB, template="one-ds-101", tags=TAGS)
    stack.sp.volume_create("one-img-9-7-3", base_on="one-img-9", tags=TAGS)
    stack.sp.volume_create("one-sys-7-4-iso", size=MIB, template="one-ds-101", tags=TAGS)  # context: not a DISK
    _write(stack, "one-img-5-7-0", 4)
    _write(stack, "one-sys-7-1-raw", 2)
    stack.sp.volume_snapshot("one-img-5-7-0", "one-img-5-7-0-snap0")
    for name in ("one-img-5-7-0", "one-sys-7-1-raw"):
        stack.sp.volume_snapshot(name, "%s-ONESNAP-3-1736100000" % name)
    r = monitor(stack, conf, ONESP_MONITOR_VMSNAPSHOTS="1", ONESP_SP_SPACE_USED_LVMWAY="1")
    assert r.ok, r
    got = received(sock)
    stored = {s["name"]: s["storedSize"] for s in stack.sp.snapshots_space()}
    vmsnap = stored["one-img-5-7-0-ONESNAP-3-1736100000"] + stored["one-sys-7-1-raw-ONESNAP-3-1736100000"]
    volumes = {v["name"]: v["storedSize"] for v in stack.sp.volumes_space()}
    assert got == {7: ["DISK_SIZE=[ID=%d,SIZE=%d]" % (disk, monitoring.megabytes(volumes[name])) for disk, name in
                       enumerate(("one-img-5-7-0", "one-sys-7-1-raw", "one-sys-7-2-swap", "one-img-9-7-3"))]
                   + ["SNAPSHOT_SIZE=[ID=0,DISK_ID=0,SIZE=4]", "VMSNAPSHOT=[ID=3,BYTES=%d]" % vmsnap]}
    assert vmsnap == 2 * MIB  # the 4 MiB of disk 0 are held by its older snapshot


def _vms(stack, first, count):
    b = stack.b
    for vm in range(first, first + count):
        stack.put_vm(vm, disks=[b.image_disk(d, 5, size=16) for d in range(3)])
        stack.sp_sim.seed(3, prefix="one-img-5-%d-" % vm, size=16 * MIB, snapshots=2, tags=TAGS)


def test_the_same_calls_for_two_vms_and_for_fifty(stack, monitord):
    """Every 5th VM has data on its disks (disk d holds d+1 MiB); the rest are empty."""
    sock, conf = monitord
    stack.put_image(5)
    counts = []
    for first, count in ((100, 2), (200, 48)):
        _vms(stack, first, count)
        for vm in range(first, first + count, 5):
            for disk in range(3):
                _write(stack, "one-img-5-%d-%d" % (vm, disk), disk + 1)
        stack.ctl.reset_calls()
        stack.oned.reset_calls()
        r = monitor(stack, conf)
        assert r.ok, r
        counts.append((stack.ctl.counts(), stack.oned.call_log().counts))
        got = received(sock)
        assert sorted(got) == list(range(100, 102)) + (list(range(200, 248)) if count == 48 else [])
        for vm, lines in got.items():
            full = (vm - (100 if vm < 200 else 200)) % 5 == 0
            assert sorted(lines) == sorted(["DISK_SIZE=[ID=%d,SIZE=%d]" % (d, d + 1 if full else 0) for d in range(3)]
                                           + ["SNAPSHOT_SIZE=[ID=%d,DISK_ID=%d,SIZE=0]" % (s, d)
                                              for d in range(3) for s in range(2)])
    assert counts[0] == counts[1] == (
        {"VolumeTemplatesStatus": 1, "VolumesSpace": 1, "SnapshotsSpace": 1}, {"one.vmpool.infoextended": 1})


def test_large_reports_are_split_into_datagrams_monitord_can_read():
    noise = random.Random(1)
    lines = ['VM=[ID=%d,MONITOR="%s"]' % (i, base64.b64encode(bytes(noise.getrandbits(8) for _ in range(300))).decode())
             for i in range(400)]
    out = monitoring.messages(lines, max_size=20000)
    assert len(out) > 1 and all(len(m) <= 20000 for m in out)
    back = []
    for message in out:
        back += zlib.decompress(base64.b64decode(message.split()[4])).decode().splitlines()
    assert back == lines


def test_monitord_address_as_opennebula_reads_it():
    assert monitoring.monitord_address(None) == ("127.0.0.1", 4124, None)
    conf = 'NETWORK = [\n  ADDRESS = "0.0.0.0",\n  PORT = 5000,\n  PUBKEY = "/etc/one/pub.pem",\n' \
           '  MONITOR_ADDRESS = "10.0.0.5" # the front-end\n]\n'
    assert monitoring.monitord_address(conf) == ("10.0.0.5", 5000, "/etc/one/pub.pem")


def test_encrypted_monitord_gets_nothing_but_capacity_is_reported(stack, monitord, tmp_path):
    sock, conf = monitord
    conf.write_text(conf.read_text().replace('PUBKEY = ""', 'PUBKEY = "%s"' % (tmp_path / "key.pem")))
    stack.put_image(5)
    _vms(stack, 100, 1)
    r = monitor(stack, conf)
    assert r.ok and r.stdout == expected_capacity(stack)
    assert received(sock, wait=0.3) == {}
    assert "encrypted monitoring is not supported" in stack.log_text()

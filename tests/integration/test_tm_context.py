"""tm context, run as oned runs it: the context ISO on a StorPool volume."""

import os
import shutil
import subprocess

import pytest

from onesp.sim.stack import search_path

MIB = 1024 * 1024


@pytest.fixture
def files(stack):
    """context.sh where oned writes it, and one FILES_DS file in a file datastore."""
    vm_dir = stack.root / "vms" / "7"
    vm_dir.mkdir(parents=True)
    context_sh = vm_dir / "context.sh"
    context_sh.write_text("ETH0_IP='10.0.0.7'\nHOSTNAME='web'\n")
    ds_file = stack.ds_location / "2" / "9c1185a5c5e9fc54612808977ee8f548b2258d31"
    ds_file.parent.mkdir(parents=True)
    ds_file.write_text("#!/bin/sh\necho init\n")
    return context_sh, ds_file


def _context(stack, *file_args, disk=1, vm=7, host="node1", **kwargs):
    return stack.tm("context", *[str(f) for f in file_args], stack.disk_path(host, vm, disk), str(vm), "101", **kwargs)


def _iso_listing(stack, name):
    size = stack.volume(name)["size"]
    image = stack.root / "check.iso"
    image.write_bytes(stack.read_volume(name, size))
    if shutil.which("isoinfo") is None:
        pytest.skip("isoinfo is not installed")
    out = subprocess.run(["isoinfo", "-R", "-f", "-i", str(image)], capture_output=True, check=True).stdout.decode()
    return sorted(out.split()), image


def _read_from_iso(image, path):
    return subprocess.run(["isoinfo", "-R", "-x", path, "-i", str(image)], capture_output=True, check=True).stdout


def test_context_builds_writes_and_links_the_iso(stack, files):
    context_sh, ds_file = files
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"SP_QOSCLASS": "ctx", "VC_POLICY": "p1"})
    stack.ctl.reset_calls()
    r = _context(stack, context_sh, "%s:'init.sh'" % ds_file)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert counts == {"VolumeCreate": 1, "VolumesReassignWait": 1}, counts
    vol = stack.volume("one-sys-7-1-iso")
    assert vol["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "diskid": "1", "type": "CNTXT",
                           "qc": "ctx", "vc-policy": "p1"}
    assert vol["templateName"] == "one-ds-101" and vol["size"] % 2048 == 0
    assert stack.clients_of("one-sys-7-1-iso") == {1: "rw"}
    assert os.readlink(stack.local_disk(7, 1)) == str(stack.dev_dir / "one-sys-7-1-iso")
    listing, image = _iso_listing(stack, "one-sys-7-1-iso")
    assert listing == ["/context.sh", "/init.sh"]
    assert _read_from_iso(image, "/context.sh") == context_sh.read_bytes()
    assert _read_from_iso(image, "/init.sh") == ds_file.read_bytes()
    assert stack.read_volume("one-sys-7-1-iso", 5, offset=32769) == b"CD001"


def test_context_refresh_rewrites_the_same_volume(stack, files):
    context_sh, _ = files
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    assert _context(stack, context_sh).ok
    big = stack.root / "vms" / "7" / "big.bin"
    big.write_bytes(os.urandom(3 * MIB))
    context_sh.write_text("HOSTNAME='renamed'\n")
    r = _context(stack, context_sh, big)
    assert r.ok, r
    assert stack.volume_names() == ["one-sys-7-1-iso"]
    listing, image = _iso_listing(stack, "one-sys-7-1-iso")
    assert listing == ["/big.bin", "/context.sh"]
    assert _read_from_iso(image, "/context.sh") == b"HOSTNAME='renamed'\n"
    assert _read_from_iso(image, "/big.bin") == big.read_bytes()
    assert stack.volume("one-sys-7-1-iso")["size"] > 3 * MIB
    r = _context(stack, context_sh)
    assert r.ok and stack.volume("one-sys-7-1-iso")["size"] < MIB  # shrunk to the new ISO


def test_context_refuses_what_it_cannot_pack_safely(stack, files):
    context_sh, ds_file = files
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    before = stack.state()
    cases = {
        "vms/7/context.sh": "tm context: bad input: invalid path 'vms/7/context.sh': not absolute",
        "%s/../../../etc/passwd" % context_sh.parent: "relative components",
        "%s:../escape" % ds_file: "invalid name '../escape' in the ISO",
        "%s:sub/dir" % ds_file: "invalid name 'sub/dir' in the ISO",
        "%s:context.sh" % ds_file: "a second file named 'context.sh'",
        "%s/nonexistent; touch /tmp/pwned" % context_sh.parent: "not a regular file on the front-end",
        str(context_sh.parent): "not a regular file on the front-end",
        "http://127.0.0.1/x.sh": "tm context: unsupported: context file http://127.0.0.1/x.sh: files from URLs",
    }
    for bad, expected in cases.items():
        r = _context(stack, context_sh, bad) if bad != "vms/7/context.sh" else _context(stack, bad)
        assert r.code != 0 and len(r.error_lines) == 1 and expected in r.error_lines[0], (bad, r)
    assert stack.state() == before
    assert not os.path.exists("/tmp/pwned")


def test_context_readonly_mode_ro(stack, files):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    r = _context(stack, files[0], env={"ONESP_READONLY_MODE": "ro", "ONESP_TAG_CONTEXT_ISO": "0"})
    assert r.ok, r
    assert stack.clients_of("one-sys-7-1-iso") == {1: "ro"}
    assert stack.volume("one-sys-7-1-iso")["tags"] == {}


def test_context_detaches_the_vms_volumes_from_its_earlier_hosts(stack, files):
    stack.put_image(5)
    stack.put_image(6, persistent=True)
    history = [stack.b.history("node2", hid=2), stack.b.history("node1", hid=1)]
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.image_disk(1, 6, persistent=True, size=16)],
                 history=history)
    for disk, image, action in ((0, 5, "clone"), (1, 6, "ln")):
        assert stack.tm(action, "fe:one-ds-100/one-img-%d" % image, stack.disk_path("node1", 7, disk), "7", "100").ok
    stack.sp.attach("one-img-6", 2)  # stale, on the VM's earlier host
    stack.sp.attach("one-img-5-7-0", 2)
    stack.sp.attach("one-img-5-7-0", 3)  # a client the VM never ran on
    stack.ctl.reset_calls()
    r = _context(stack, files[0], disk=2)
    counts = stack.ctl.counts()
    assert r.ok, r
    assert counts == {"VolumeCreate": 1, "VolumesReassignWait": 2}, counts
    assert stack.clients_of("one-img-6") == {1: "rw"}
    assert stack.clients_of("one-img-5-7-0") == {1: "rw", 3: "rw"}
    off = _context(stack, files[0], disk=2, env={"ONESP_FORCE_DETACH_OTHER_CONTEXT": "0"})
    assert off.ok


def test_context_does_not_take_a_disk_open_on_another_host(stack, files):
    stack.put_image(6, persistent=True)
    history = [stack.b.history("node2", hid=2), stack.b.history("node1", hid=1)]
    stack.put_vm(7, disks=[stack.b.image_disk(0, 6, persistent=True, size=16)], history=history)
    stack.sp.attach("one-img-6", 2)
    stack.ctl.set_open("one-img-6", 2)
    before = stack.state()
    r = _context(stack, files[0])
    assert r.code != 0 and len(r.error_lines) == 1
    assert r.error_lines[0].startswith("tm context: detach one-img-6, one-sys-7-1-iso from other hosts (clients 2): busy:")
    assert stack.state() == before
    assert not os.path.lexists(stack.local_disk(7, 1))


def _ovmf(stack):
    """An OVMF_PATH directory holding OVMF_VARS.fd."""
    ovmf = stack.root / "OVMF"
    ovmf.mkdir()
    template = ovmf / "OVMF_VARS.fd"
    template.write_bytes(b"NVRAM-VARS" + b"\0" * 1014)
    return ovmf, template, {"ONESP_OVMF_PATH": "%s /nonexistent/second" % ovmf}


def test_context_creates_uefi_nvram_once(stack, files):
    ovmf, template, env = _ovmf(stack)
    for spec in ("storpool:template=OVMF_VARS.fd", "storpool:template=%s" % template):
        stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"T_OS_NVRAM": spec}, lcm_state=1)
        r = _context(stack, files[0], env=env)
        assert r.ok, r
        vol = stack.volume("one-sys-7-NVRAM")
        assert vol["size"] == 1024 and vol["tags"] == {"virt": "one", "nloc": "one", "nvm": "7", "type": "NVRAM"}
        assert stack.clients_of("one-sys-7-NVRAM") == {1: "rw"}
        assert stack.read_volume("one-sys-7-NVRAM", 10) == b"NVRAM-VARS"
        # the path oned writes as the domain's <nvram> is a regular file with the volume's bytes
        nvram_file = stack.ds_location / "101" / "7" / "vm-7_VARS.fd"
        assert not nvram_file.is_symlink() and nvram_file.read_bytes() == template.read_bytes()
        stack.write_volume("one-sys-7-NVRAM", b"BOOT-ORDER")
        assert _context(stack, files[0], env=env).ok
        assert stack.read_volume("one-sys-7-NVRAM", 10) == b"BOOT-ORDER"  # never overwritten once it exists
        assert nvram_file.read_bytes()[:10] == b"BOOT-ORDER"  # a deploy starts from the volume
        stack.sp.detach("one-sys-7-NVRAM", "all", force=True)
        stack.sp.volume_delete("one-sys-7-NVRAM")
    assert _context(stack, files[0], env=env).ok
    template.unlink()
    assert _context(stack, files[0], env=env).ok  # an existing NVRAM volume needs no template
    stack.sp.detach("one-sys-7-NVRAM", "all", force=True)
    stack.sp.volume_delete("one-sys-7-NVRAM")
    r = _context(stack, files[0], env=env)
    assert r.error_lines == ["tm context: read the NVRAM template of VM 7: bad input: T_OS_NVRAM template %s: cannot "
                             "open it: No such file or directory" % template]


def test_context_reads_nvram_templates_only_under_ovmf_path(stack, files):
    """T_OS_NVRAM is the VM owner's: a template outside OVMF_PATH — by name, by symlink, by a
    symlinked directory, by ``..`` — is refused with one line, before anything is made."""
    ovmf, template, env = _ovmf(stack)
    secret = stack.root / "one_auth"
    secret.write_text("oneadmin:secret\n")
    os.symlink(str(secret), str(ovmf / "link.fd"))
    os.symlink(str(stack.root), str(ovmf / "subdir"))
    os.mkfifo(str(ovmf / "fifo.fd"))
    (ovmf / "dir.fd").mkdir()
    outside = "not under an allowed directory (%s /nonexistent/second)" % ovmf
    cases = {
        "/etc/shadow": outside,
        str(secret): outside,
        "%s/../one_auth" % ovmf: "relative components",
        "link.fd": "cannot open it: it is a symlink",
        "%s/subdir/one_auth" % ovmf: "is %s, %s" % (secret, outside),
        "fifo.fd": "not a regular file",
        "dir.fd": "not a regular file",
        "sub/OVMF_VARS.fd": "not a bare file name and not an absolute path",
        "/nonexistent/second/x.fd": "cannot open it: No such file or directory",
    }
    before = stack.state()
    for bad, expected in cases.items():
        stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"T_OS_NVRAM": "storpool:template=" + bad})
        r = _context(stack, files[0], env=env)
        assert r.code != 0 and len(r.error_lines) == 1, (bad, r)
        assert r.error_lines[0] == ("tm context: read the NVRAM template of VM 7: bad input: T_OS_NVRAM template "
                                    "%s: %s" % (bad, expected)), (bad, r)
        assert stack.state() == before, bad
        assert sorted(os.listdir(stack.ds_location)) == ["2"], bad  # no VM directory, no link
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"T_OS_NVRAM": "storpool:template=OVMF_VARS.fd"},
                 os={"FIRMWARE": "/usr/share/OVMF/OVMF_CODE.fd", "FIRMWARE_FORMAT": "qcow2"})
    r = _context(stack, files[0], env=env)
    assert r.error_lines == ["tm context: unsupported: T_OS_NVRAM of VM 7: OS/FIRMWARE_FORMAT is qcow2, and "
                             "OpenNebula's kvm deploy would convert its template onto the NVRAM volume at every "
                             "start; use raw"]
    assert stack.state() == before
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"T_OS_NVRAM": "storpool:template=/etc/shadow"})
    r = _context(stack, files[0], env={"ONESP_OVMF_PATH": ""})
    assert r.error_lines == ["tm context: read the NVRAM template of VM 7: bad input: T_OS_NVRAM template "
                             "/etc/shadow: no directory is allowed for it (configuration)"]


def test_context_reaches_oned_at_the_one_xmlrpc_the_rc_file_exports(stack, files, tmp_path):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    rc = tmp_path / "addon-storpoolrc"
    rc.write_text("export ONE_XMLRPC=%s\n" % stack.env["ONE_XMLRPC"])
    r = _context(stack, files[0], env={"ONE_XMLRPC": "", "ONESP_RC": str(rc)})
    assert r.ok, r


def test_addon_spellings_load_and_unreadable_values_are_logged_with_file_and_line(stack, files, tmp_path):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    rc = tmp_path / "addon-storpoolrc"
    rc.write_text("READONLY_MODE=RO\nTAG_CONTEXT_ISO=T\nATTACH_TIMEOUT=20s\nVMSNAPSHOT_FSFREEZE=maybe\n")
    r = _context(stack, files[0], env={"ONESP_RC": str(rc)})
    assert r.ok and r.stderr == "", r
    assert stack.clients_of("one-sys-7-1-iso") == {1: "ro"}
    warnings = [line for line in stack.log_text().splitlines() if "WARN" in line and "configuration:" in line]
    assert len(warnings) == 1 and warnings[0].endswith(
        "configuration: VMSNAPSHOT_FSFREEZE in %s line 4: expected yes/no (1/0, y/n, t/f, true/false, on/off), "
        "got 'maybe'; read as no, as the addon did" % rc), warnings


def test_context_each_failing_call_leaves_the_state_as_before(stack, files):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    for call, when in (("VolumeCreate", "before"), ("VolumesReassignWait", "before"),
                       ("VolumesReassignWait", "after")):
        before = stack.state()
        stack.ctl.inject_fault(call, error="invalidParam", when=when, descr="injected")
        r = _context(stack, files[0])
        stack.ctl.clear_faults()
        assert r.code != 0 and len(r.error_lines) == 1 and "injected" in r.error_lines[0], (call, when, r)
        assert stack.state() == before, (call, when)
        assert not os.path.lexists(stack.local_disk(7, 1))


def test_context_without_an_iso_tool(stack, files):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    r = _context(stack, files[0], env={"ONESP_MKISOFS": "no-such-mkisofs"})
    assert r.error_lines == ["tm context: build the context ISO with no-such-mkisofs: configuration error: "
                             "MKISOFS: no-such-mkisofs is not installed on the front-end"]
    assert stack.volume_names() == []


def test_context_includes_the_guest_packages_when_the_vm_asks(stack, files):
    context_sh, ds_file = files
    packages = stack.root / "context-packages"
    (packages / "rpm").mkdir(parents=True)
    (packages / "one-context_6.10.0-1.deb").write_bytes(b"deb package")
    (packages / "rpm" / "one-context-6.10.0-1.el9.noarch.rpm").write_bytes(b"rpm package")
    (packages / "init.sh").write_text("the packages' init.sh\n")  # oned's file of that name wins
    env = {"ONESP_CONTEXT_PACKAGES_DIR": str(packages)}
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"INCLUDE_CONTEXT_PACKAGES": "1"})
    r = _context(stack, context_sh, "%s:'init.sh'" % ds_file, env=env)
    assert r.ok, r
    listing, image = _iso_listing(stack, "one-sys-7-1-iso")
    assert listing == ["/context.sh", "/init.sh", "/one-context_6.10.0-1.deb", "/rpm",
                       "/rpm/one-context-6.10.0-1.el9.noarch.rpm"]
    assert _read_from_iso(image, "/init.sh") == ds_file.read_bytes()
    assert _read_from_iso(image, "/rpm/one-context-6.10.0-1.el9.noarch.rpm") == b"rpm package"

    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"INCLUDE_CONTEXT_PACKAGES": "0"})
    assert _context(stack, context_sh, env=env).ok
    assert _iso_listing(stack, "one-sys-7-1-iso")[0] == ["/context.sh"]

    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"INCLUDE_CONTEXT_PACKAGES": "YES"})
    r = _context(stack, context_sh, env={"ONESP_CONTEXT_PACKAGES_DIR": str(stack.root / "missing")})
    assert r.error_lines == ["tm context: include the context packages: configuration error: CONTEXT_PACKAGES_DIR %s "
                             "(INCLUDE_CONTEXT_PACKAGES) is not a directory" % (stack.root / "missing")]
    assert _iso_listing(stack, "one-sys-7-1-iso")[0] == ["/context.sh"]  # the ISO as it was


def test_context_packages_are_read_only_from_inside_their_directory(stack, files):
    """INCLUDE_CONTEXT_PACKAGES is the VM owner's: a link in CONTEXT_PACKAGES_DIR that leads
    out of it is refused (judged by the opened file), one that stays inside is packed."""
    context_sh, _ = files
    packages = stack.root / "context-packages"
    packages.mkdir()
    (packages / "one-context_6.10.0-1.deb").write_bytes(b"deb package")
    os.symlink("one-context_6.10.0-1.deb", str(packages / "one-context_latest.deb"))
    env = {"ONESP_CONTEXT_PACKAGES_DIR": str(packages)}
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)], user_template={"INCLUDE_CONTEXT_PACKAGES": "YES"})
    assert _context(stack, context_sh, env=env).ok
    listing, image = _iso_listing(stack, "one-sys-7-1-iso")
    assert listing == ["/context.sh", "/one-context_6.10.0-1.deb", "/one-context_latest.deb"]
    assert _read_from_iso(image, "/one-context_latest.deb") == b"deb package"

    secret = stack.root / "one_auth"
    secret.write_text("oneadmin:secret\n")
    os.symlink(str(secret), str(packages / "zz-leak.deb"))
    before = stack.state()
    r = _context(stack, context_sh, env=env)
    assert r.error_lines == ["tm context: collect the context files: bad input: context package %s: is %s, outside "
                             "CONTEXT_PACKAGES_DIR %s" % (packages / "zz-leak.deb", secret, packages)]
    assert stack.state() == before
    assert b"oneadmin:secret" not in stack.read_volume("one-sys-7-1-iso", stack.volume("one-sys-7-1-iso")["size"])


def _path_without(tmp_path, *tools):
    """A PATH holding every command of this one except ``tools`` (the interpreter's own
    directory first: a virtualenv's python3 must be run from where it lies)."""
    farm = tmp_path / "bin"
    farm.mkdir()
    interpreter, rest = search_path().split(os.pathsep, 1)
    for directory in rest.split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if name not in tools and not (farm / name).exists() and os.access(os.path.join(directory, name), os.X_OK):
                (farm / name).symlink_to(os.path.join(directory, name))
    return "%s:%s" % (interpreter, farm)


@pytest.mark.parametrize("absent, used", [(("xorriso",), "genisoimage"), (("genisoimage", "mkisofs"), "xorriso")])
def test_context_uses_xorriso_where_genisoimage_is_absent(stack, files, tmp_path, absent, used):
    """Stock OpenNebula 7.2+ front-ends have xorriso, not genisoimage: either builds the ISO."""
    if shutil.which(used) is None:
        pytest.skip("%s is not installed" % used)
    context_sh, ds_file = files
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    r = _context(stack, context_sh, "%s:'init.sh'" % ds_file, env={"PATH": _path_without(tmp_path, *absent)})
    assert r.ok, r
    listing, image = _iso_listing(stack, "one-sys-7-1-iso")
    assert listing == ["/context.sh", "/init.sh"]
    assert _read_from_iso(image, "/context.sh") == context_sh.read_bytes()
    assert "build the context ISO with %s" % used in stack.log_text()


def test_context_without_genisoimage_nor_xorriso(stack, files, tmp_path):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
    r = _context(stack, files[0], env={"PATH": _path_without(tmp_path, "genisoimage", "mkisofs", "xorriso")})
    assert r.error_lines == ["tm context: build the context ISO with genisoimage: configuration error: "
                             "MKISOFS: genisoimage is not installed on the front-end"]
    assert stack.volume_names() == []

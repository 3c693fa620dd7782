"""arguments: the DS and TM argument forms of OpenNebula 6.6 to 7.x."""

import importlib

import pytest

from onesp.runtime.arguments import HostPath, ds_args
from onesp.runtime.errors import BadInput


def tm_args(action, argv):
    """What ``tm <action>`` makes of its arguments: the record its module declares."""
    return importlib.import_module("onesp.actions.tm.%s" % action).Args.parse(action, argv)


def test_host_path_split_at_first_colon_and_normalised():
    hp = HostPath.parse("node1:/var/lib/one//datastores/0/42/disk.3")
    assert hp.host == "node1" and hp.path == "/var/lib/one/datastores/0/42/disk.3"
    assert hp.disk_id == 3 and hp.is_disk and hp.vm_dir == "/var/lib/one/datastores/0/42"
    assert hp.system_ds_id == 0
    vm_dir = HostPath.parse("node1:/var/lib/one//datastores/100/42/")
    assert vm_dir.path == "/var/lib/one/datastores/100/42" and not vm_dir.is_disk and vm_dir.system_ds_id == 100
    assert HostPath.parse("n:/a/b:c").path == "/a/b:c"


@pytest.mark.parametrize("bad", ["node1", "node;1:/x", "-oProxyCommand=x:/tmp", "node1:relative/path",
                                 "node1:/a/../etc", "node1:/a/b\nc", "$(id):/x", "node 1:/x", ":/x"])
def test_hostile_host_paths(bad):
    with pytest.raises(BadInput):
        HostPath.parse(bad)


def test_clone_signature():
    a = tm_args("clone", ["fe:one-ds-1/one-img-5", "node1:/d/0/7/disk.0", "7", "1"])
    assert a.image.host == "fe" and a.image.source == "one-ds-1/one-img-5"
    assert a.dst.disk_id == 0 and a.vm_id == 7 and a.ds_id == 1


def test_context_variable_arity():
    a = tm_args("context", ["/var/lib/one/vms/7/context.sh", "/tmp/f one", "node1:/d/0/7/disk.2", "7", "0"])
    assert a.files == ("/var/lib/one/vms/7/context.sh", "/tmp/f one") and a.dst.disk_id == 2 and a.vm_id == 7


def test_migrate_with_and_without_calling_tm():
    assert tm_args("premigrate", ["n1", "n2", "/d/0/7", "7", "0"]).calling_tm is None
    a = tm_args("premigrate", ["n1", "n2", "/d/0/7", "7", "0", "ssh"])
    assert (a.src_host, a.dst_host, a.vm_dir, a.vm_id, a.ds_id, a.calling_tm) == ("n1", "n2", "/d/0/7", 7, 0, "ssh")


def test_backup_five_and_six_argument_forms():
    six = tm_args("prebackup", ["n1:/d/0/7", "0:1:2", "one-7", "5", "7", "0"])
    five = tm_args("prebackup", ["n1:/d/0/7", "0:1:2", "one-7", "7", "0"])
    assert six.disk_ids == five.disk_ids == (0, 1, 2)
    assert six.job_id == "5" and five.job_id is None and six.vm_id == five.vm_id == 7


def test_cpds_current_state_and_snapshot():
    assert tm_args("cpds", ["n1:/d/0/7/disk.0", "one-ds-1/one-img-9", "-1", "7", "1"]).snap_id == -1
    assert tm_args("cpds", ["n1:/d/0/7/disk.0", "one-ds-1/one-img-9", "2", "7", "1"]).snap_id == 2


@pytest.mark.parametrize("action, argv", [
    ("clone", ["a:/x", "b:/y", "7"]),
    ("clone", ["a:/x", "b:/y", "-7", "1"]),
    ("clone", ["a:/x", "b:/y", "7", "1e3"]),
    ("mkimage", ["10", "raw;reboot", "n:/d/0/7/disk.1", "7", "0"]),
    ("resize", ["n:/d/0/7/disk.1", "99999999999999", "7", "0"]),
    ("mvds", ["n:/d/0/7/disk.1", "one-img-1 ;id", "7", "0"]),
])
def test_bad_tm_arguments(action, argv):
    with pytest.raises(BadInput):
        tm_args(action, argv)


def test_ds_forms():
    assert ds_args(["12"], b"PERTX0") == (12, b"PERTX0")
    assert ds_args(["PERTX0", "12"], b"") == (12, b"PERTX0")
    assert ds_args(["-", "12"], b"PERTX0") == (12, b"PERTX0")
    with pytest.raises(BadInput):
        ds_args([], b"")
    with pytest.raises(BadInput):
        ds_args(["x"], b"")

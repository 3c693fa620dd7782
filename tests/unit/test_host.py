"""host: argv quoting through the same shell string ssh carries; helpers on hostile paths."""

import os

import pytest

from onesp.runtime.errors import BadInput, HostError
from onesp.runtime.hostexec import Host, check_host, local_runner, script, ssh_runner

HOSTILE = ["a b", "semi;colon", "$(touch CANARY)", "`touch CANARY`", "quote'single", 'quote"double', "new\\nline",
           "star*", "-dash", "amp&"]


@pytest.fixture
def node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return Host("node1", local_runner)


@pytest.mark.parametrize("word", HOSTILE)
def test_arguments_arrive_verbatim(node, tmp_path, word):
    out = node.run(["printf", "%s", word])
    assert out == word
    assert not (tmp_path / "CANARY").exists()


def test_script_joins_with_and(node):
    assert node.run(["true"], ["echo", "ok"]).strip() == "ok"
    with pytest.raises(HostError) as err:
        node.run(["sh", "-c", "echo boom >&2; exit 3"], ["touch", "never"])
    assert "boom" in str(err.value) and "node1" in str(err.value)
    assert not os.path.exists("never")


@pytest.mark.parametrize("name", ["node 1", "-oProxyCommand=id", "a;b", "", "x" * 300, "n$(id)"])
def test_host_names_validated(name):
    with pytest.raises(BadInput):
        check_host(name)


def test_symlink_is_atomic_and_marked(node, tmp_path):
    target1, target2 = tmp_path / "dev1", tmp_path / "dev2"
    target1.write_text("1")
    target2.write_text("2")
    link = tmp_path / "ds" / "0" / "7" / "disk.0"
    node.symlink(str(target1), str(link), monitor_marker="storpool")
    assert os.readlink(link) == str(target1)
    assert (tmp_path / "ds" / "0" / "7" / "disk.0.monitor").read_text() == "storpool\n"
    assert (tmp_path / "ds" / "0" / ".monitor").read_text() == "storpool\n"
    node.symlink(str(target2), str(link))
    assert os.readlink(link) == str(target2) and link.read_text() == "2"
    assert not (tmp_path / "ds" / "0" / "7" / "disk.0.onesp-tmp").exists()
    assert node.readlink(str(link)) == str(target2) and node.exists(str(link))
    node.remove(str(link))
    assert not link.exists() and not os.path.lexists(link)
    node.remove(str(link))  # absent is fine


def test_paths_with_spaces_and_quotes(node, tmp_path):
    weird = tmp_path / "d i r" / "it's $(x)"
    node.write_file(str(weird / "file;1"), b"data")
    assert (weird / "file;1").read_bytes() == b"data"


def test_remove_tree_refuses_shallow_paths(node, tmp_path):
    with pytest.raises(BadInput):
        node.remove_tree("/var")
    with pytest.raises(BadInput):
        node.remove_tree("/var/lib/one")
    vm = tmp_path / "datastores" / "0" / "42"
    (vm / "sub").mkdir(parents=True)
    node.remove_tree(str(vm))
    assert not vm.exists() and (tmp_path / "datastores" / "0").exists()


def test_ssh_runner_builds_argv_with_one_quoted_string(fp):
    fp.register(["ssh", "-p", "2222", "-o", "BatchMode=yes", "--", "node1", "printf %s 'a b'"], stdout="a b")
    run = ssh_runner("ssh -p 2222")
    out = Host("node1", run).run(["printf", "%s", "a b"])
    assert out == "a b"


def test_script_quotes_everything():
    assert script([["ls", "a b", "$(x)"]]) == "ls 'a b' '$(x)'"


def test_private_host_views(tmp_path, monkeypatch):
    shared = tmp_path / "datastores"
    shared.mkdir()
    monkeypatch.setenv("ONESP_LOCAL_PRIVATE_DIR", str(shared))
    monkeypatch.setenv("ONESP_LOCAL_HOSTS_DIR", str(tmp_path / "hosts"))
    Host("node1", local_runner).write_file(str(shared / "101" / "7" / "f"), b"one")
    Host("node2", local_runner).write_file(str(shared / "101" / "7" / "f"), b"two")
    assert (tmp_path / "hosts" / "node1" / "101" / "7" / "f").read_bytes() == b"one"
    assert (tmp_path / "hosts" / "node2" / "101" / "7" / "f").read_bytes() == b"two"
    assert Host("node1", local_runner).run(["cat", str(shared / "101" / "7" / "f")]) == "one"
    assert not (shared / "101").exists()


def test_a_timed_out_command_does_not_outlive_the_action(tmp_path):
    marker = tmp_path / "still-running"
    node = Host("node1", local_runner, timeout=1)
    with pytest.raises(HostError) as err:
        node.run(["sh", "-c", 'sleep 3; touch "$1"', "sh", str(marker)], ["true"])
    assert "timed out" in str(err.value)
    import time

    time.sleep(3.5)
    assert not marker.exists()

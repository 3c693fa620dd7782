"""Host operations and whole actions through a real OpenSSH server on 127.0.0.1.

The server is ``onesp.sim.sshd`` (also the benchmark's): host and user keys made in a
temporary directory, sshd on an ephemeral port with StrictModes off and its own
authorized_keys, in a private mount namespace when run as root without /run/sshd. When
sshd cannot start at all, the tests are skipped with the reason.

Over ssh the remote login shell gets one string: these tests prove that names with spaces,
quotes, ``$()``, backquotes and ``;`` arrive as names (the exact files appear, the canary
never does), with the same runner the actions use.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

from onesp.runtime.hostexec import Host, connection_dir, runner_from_config, ssh_runner
from onesp.sim.sshd import SshdUnavailable, SshServer, free_port, running_sshd

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """The real sshd of ``onesp.sim.sshd`` for the module's tests; skipped with the reason it cannot run."""
    with contextlib.ExitStack() as running:
        try:
            server = running.enter_context(running_sshd(tmp_path_factory.mktemp("sshd")))
        except SshdUnavailable as exc:
            pytest.skip(str(exc))
        yield server


def hostile_names(canary: Path) -> Dict[str, str]:
    """Label -> a name that is syntax to a shell."""
    return {
        "space": "with space",
        "single": "it's",
        "double": 'say "hi"',
        "dollar": "$(touch %s)" % (canary / "dollar"),
        "backquote": "`touch %s`" % (canary / "backquote"),
        "semicolon": "a;touch %s;b" % (canary / "semicolon"),
        "quoted": "';touch %s;'" % (canary / "quoted"),
        "variables": "$HOME ${PATH} $$ $?",
        "glob": "*[ab]{c,d}?~#%&|<>",
        "dash": "-rf",
    }


def tree(root: Path) -> Dict[str, Tuple[str, str]]:
    """Every entry under ``root``: relative path -> (kind, symlink target or file bytes)."""
    found: Dict[str, Tuple[str, str]] = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                found[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                found[relative] = ("dir", "")
            else:
                found[relative] = ("file", path.read_bytes()[:32].decode("latin-1"))
    return found


def with_parents(entries: Dict[str, Tuple[str, str]]) -> Dict[str, Tuple[str, str]]:
    """``entries`` plus each directory above them."""
    full = dict(entries)
    for relative in entries:
        parent = Path(relative).parent
        while str(parent) != ".":
            full.setdefault(str(parent), ("dir", ""))
            parent = parent.parent
    return full


def test_host_operations_with_hostile_names_create_exactly_the_named_files(sshd, tmp_path_factory):
    canary = tmp_path_factory.mktemp("canary")
    base = tmp_path_factory.mktemp("remote")
    node = Host("127.0.0.1", ssh_runner(sshd.command))
    expected: Dict[str, Tuple[str, str]] = {}
    for label, name in hostile_names(canary).items():
        link = "%s/links/%s/101/7/disk.0" % (base, name)
        target = "%s/dev/%s" % (base, name)
        assert node.symlink(target, link) is None
        assert node.symlink(target + "-2", link) == target  # replaced atomically, the old target reported
        assert node.readlink(link) == target + "-2" and node.exists(link)
        node.write_file("%s/files/%s" % (base, name), name.encode())
        node.write_file("%s/gone/%s" % (base, name), b"short-lived")
        node.remove("%s/gone/%s" % (base, name))
        assert not node.exists("%s/gone/%s" % (base, name))
        node.write_file("%s/swap/%s" % (base, name), bytes(64 * 1024))
        node.run(["chmod", "600", "--", "%s/swap/%s" % (base, name)])
        node.mkswap("%s/swap/%s" % (base, name))
        node.run(["mkdir", "-p", "--", "%s/vms/%s/101/7/sub" % (base, name)])
        node.remove_tree("%s/vms/%s/101/7" % (base, name))
        assert node.run(["printf", "%s", name]) == name
        swap = Path("%s/swap/%s" % (base, name)).read_bytes()
        assert swap[4086:4096] == b"SWAPSPACE2", label
        expected.update({
            "links/%s/101/7/disk.0" % name: ("link", target + "-2"),
            "links/%s/101/7/disk.0.monitor" % name: ("file", "storpool\n"),
            "files/%s" % name: ("file", name[:32]),
            "swap/%s" % name: ("file", swap[:32].decode("latin-1")),
            "vms/%s/101" % name: ("dir", ""),  # remove_tree took 7/ and nothing above it
            str(Path("gone/%s" % name).parent): ("dir", ""),  # remove took the file only
        })
    assert tree(base) == with_parents(expected)
    assert sorted(p.name for p in canary.iterdir()) == []


def test_clone_mkswap_and_delete_over_ssh_with_a_hostile_vm_directory(stack, sshd, tmp_path_factory):
    """The real executables, ONESP_HOST_EXEC=ssh: node1 is reached through the test's sshd."""
    canary = tmp_path_factory.mktemp("canary")
    env = {"ONESP_HOST_EXEC": "ssh", "ONESP_SSH": sshd.command + " -o HostName=127.0.0.1"}
    stack.put_image(5, data=b"bytes of image 5")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16), stack.b.volatile_disk(1, 16, kind="swap")])
    vm_dir = "%s/it's a $(touch %s);`touch %s`/101/7" % (stack.ds_location, canary / "dollar", canary / "backquote")
    clone = stack.tm("clone", "fe:one-ds-100/one-img-5", "node1:%s/disk.0" % vm_dir, "7", "100", env=env)
    assert clone.ok, clone
    swap = stack.tm("mkswap", "16", "node1:%s/disk.1" % vm_dir, "7", "101", env=env)
    assert swap.ok, swap
    assert stack.clients_of("one-img-5-7-0") == {1: "rw"} and stack.clients_of("one-sys-7-1-swap") == {1: "rw"}
    assert sorted(os.listdir(vm_dir)) == ["disk.0", "disk.0.monitor", "disk.1", "disk.1.monitor"]
    assert os.readlink(vm_dir + "/disk.0") == str(stack.dev_dir / "one-img-5-7-0")
    with open(vm_dir + "/disk.0", "rb") as dev:
        assert dev.read(16) == b"bytes of image 5"
    assert stack.read_volume("one-sys-7-1-swap", 10, offset=4086) == b"SWAPSPACE2"
    for disk, ds in ((0, "100"), (1, "101")):
        delete = stack.tm("delete", "node1:%s/disk.%d" % (vm_dir, disk), "7", ds, env=env)
        assert delete.ok, delete
    assert os.listdir(vm_dir) == []
    assert stack.volume_names() == ["one-img-5"] and stack.attachments() == []
    assert sorted(p.name for p in canary.iterdir()) == []
    unreachable = stack.tm("delete", "node1:%s" % vm_dir, "7", "101",
                           env=dict(env, ONESP_SSH=sshd.command_for(free_port()) + " -o HostName=127.0.0.1"))
    assert unreachable.ok and "node1 is unreachable" in unreachable.stdout, unreachable


def test_host_commands_share_one_connection_per_host_in_a_private_directory(sshd, tmp_path_factory):
    """SSH as configured (no ControlMaster of its own): the runner of the actions keeps one
    connection to the host in ``<LOCK_DIR>/ssh`` (0700) and every later command rides on it."""
    lock_dir = Path(tempfile.mkdtemp(prefix="onesp-ssh-"))  # short: a socket path holds 107 characters
    cfg = type("Cfg", (), {"HOST_EXEC": "ssh", "SSH": sshd.command_for(sshd.port), "LOCK_DIR": str(lock_dir)})()
    try:
        node = Host("127.0.0.1", runner_from_config(cfg))
        started = time.monotonic()
        for number in range(5):
            assert node.run(["echo", str(number)]) == "%d\n" % number
        elapsed = time.monotonic() - started
        sockets = list((lock_dir / "ssh").iterdir())
        assert len(sockets) == 1 and stat.S_ISSOCK(sockets[0].lstat().st_mode)
        assert stat.S_IMODE((lock_dir / "ssh").stat().st_mode) == 0o700
        assert elapsed < 30
        subprocess.run(shlex.split(cfg.SSH) + ["-o", "ControlPath=%s" % sockets[0], "-O", "exit", "127.0.0.1"],
                       capture_output=True, timeout=30)
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)


def test_a_connection_directory_of_another_account_is_not_used(sshd, tmp_path_factory):
    lock_dir = Path(tempfile.mkdtemp(prefix="onesp-ssh-"))
    try:
        (lock_dir / "ssh").mkdir(mode=0o777)
        (lock_dir / "ssh").chmod(0o777)
        cfg = type("Cfg", (), {"HOST_EXEC": "ssh", "SSH": sshd.command_for(sshd.port), "LOCK_DIR": str(lock_dir)})()
        assert connection_dir(cfg) is None
        assert Host("127.0.0.1", runner_from_config(cfg)).run(["echo", "ok"]) == "ok\n"
        assert list((lock_dir / "ssh").iterdir()) == []
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)

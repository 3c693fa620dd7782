"""Host operations and whole actions through a real OpenSSH server on 127.0.0.1.

The server is started by the test: host and user keys made in a temporary directory, sshd
on an ephemeral port with StrictModes off and its own authorized_keys. Run as root, sshd
insists on its privilege separation directory /run/sshd; when that is missing it runs in a
private mount namespace where a temporary directory stands in for /run (nothing on the
machine changes). When sshd cannot start at all, the tests are skipped with the reason.

Over ssh the remote login shell gets one string: these tests prove that names with spaces,
quotes, ``$()``, backquotes and ``;`` arrive as names (the exact files appear, the canary
never does), with the same runner the actions use.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

from onesp.runtime.hostexec import Host, connection_dir, runner_from_config, ssh_runner

SSHD = "/usr/sbin/sshd"
MIB = 1024 * 1024


@dataclass
class SshServer:
    port: int
    key: Path
    control: Path

    @property
    def command(self) -> str:
        """The SSH setting (OpenNebula's SSH_CMD style) that reaches this server; one connection is
        shared by the commands (ControlMaster), as many installations configure it."""
        return self.command_for(self.port) + " -o ControlMaster=auto -o ControlPath=%s -o ControlPersist=60" % (
            self.control)

    def command_for(self, port: int) -> str:
        return ("ssh -F /dev/null -p %d -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10" % (port, self.key))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH (%s, ssh, ssh-keygen) is not installed" % SSHD)
    root = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True)
    (root / "authorized_keys").write_bytes((root / "user_key.pub").read_bytes())
    port = _free_port()
    (root / "sshd_config").write_text("\n".join([
        "Port %d" % port, "ListenAddress 127.0.0.1", "HostKey %s" % (root / "host_key"),
        "PidFile %s" % (root / "sshd.pid"), "AuthorizedKeysFile %s" % (root / "authorized_keys"),
        "StrictModes no", "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin prohibit-password", "MaxStartups 50",
        # bash sources ~/.bashrc for ssh commands when SHLVL says it is the first shell: the login
        # user's rc files (slow, maybe chatty) are not what these tests are about.
        "SetEnv SHLVL=1", "",
    ]))
    argv = [SSHD, "-D", "-e", "-f", str(root / "sshd_config")]
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        if shutil.which("unshare") is None:
            pytest.skip("sshd as root needs /run/sshd, which is missing, and unshare is not installed")
        (root / "run" / "sshd").mkdir(parents=True)
        argv = ["unshare", "-m", "sh", "-c", 'mount --bind "$1" /run && shift && exec "$@"', "sh",
                str(root / "run")] + argv
    control = tempfile.mkdtemp(prefix="onesp-ssh-")  # short: a unix socket path has ~100 bytes
    log = open(root / "sshd.log", "wb")
    server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _banner(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip("sshd did not start: %s" % (root / "sshd.log").read_text(errors="replace").strip())
            time.sleep(0.05)
        handle = SshServer(port, root / "user_key", Path(control) / "%C")
        probe = subprocess.run(handle.command.split() + ["-o", "BatchMode=yes", "127.0.0.1", "true"],
                               capture_output=True, timeout=30)
        if probe.returncode != 0:
            pytest.skip("cannot log in to the test sshd: %s" % probe.stderr.decode(errors="replace").strip())
        yield handle
        subprocess.run(handle.command.split() + ["-O", "exit", "127.0.0.1"], capture_output=True, timeout=30)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(control, ignore_errors=True)


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
                           env=dict(env, ONESP_SSH=sshd.command_for(_free_port()) + " -o HostName=127.0.0.1"))
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

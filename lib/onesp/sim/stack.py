"""A whole test installation: both stand-ins, two hosts, two datastores, and a way to run
the real action executables exactly as oned does (argv, stdin, environment).

Used by the tests (the ``stack`` fixture) and by ``onesp demo``:

    def test_clone(stack):
        stack.put_image(5)                       # image 5 on the image datastore, volume one-img-5
        stack.put_vm(7, disks=[stack.b.image_disk(0, 5)])
        r = stack.tm("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node1", 7, 0), "7", "100")
        assert r.ok, r.stderr
        assert stack.volume("one-img-5-7-0")["tags"]["nvm"] == "7"

Layout: image datastore 100 (DS_MAD/TM_MAD storpool, StorPool template one-ds-100) and
system datastore 101 (TM_MAD storpool, template one-ds-101); hosts node1 and node2 with
StorPool client ids 1 and 2. Hosts run commands locally (HOST_EXEC=local); their
"datastores" directory is ``stack.ds_location``; attached volumes appear under
``stack.dev_dir``. Nothing is read from /etc or the repository's addon-storpoolrc.

With ``ONESP_TEST_SERVER=1`` in the environment (``scripts/test`` runs the whole suite a
second time so) the stack starts an ``onesp server`` of
its own and the executables hand their actions to it (``onesp.runtime.client``); otherwise its
``ONESP_SERVER_DIR`` holds no server and every action runs in-process, as the fallback does.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..runtime import storpoolanswers
from ..runtime import storpoolapi as storpool
from .oned import OnedSim, builders
from .storpool import StorPoolSim, new_token
from .storpool.control import SimControl

#: The checkout or installed tree the executables are run from: the directory that holds
#: datastore/, tm/, vmm/ and hooks/ next to lib/ (a remotes tree has the same shape).
REPO = Path(__file__).resolve().parents[3]
EXECUTABLE_DIRS = {"ds": REPO / "datastore" / "storpool", "tm": REPO / "tm" / "storpool", "vmm": REPO / "vmm" / "kvm",
                   "hook": REPO / "hooks" / "storpool"}
IMAGE_DS = 100
SYSTEM_DS = 101
HOSTS = {"node1": 1, "node2": 2}
MIB = 1024 * 1024


@dataclass
class Result:
    """What an action run returned."""

    argv: List[str]
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def error_lines(self) -> List[str]:
        """stderr lines that are not log lines (what oned shows the user)."""
        return [line for line in self.stderr.splitlines()
                if line.strip() and line.split(":", 1)[0] not in ("ERROR", "INFO", "WARN", "DEBUG")]

    def __str__(self) -> str:
        return "exit %d\nstdout: %s\nstderr: %s" % (self.code, self.stdout, self.stderr)


@dataclass(frozen=True)
class Invocation:
    """How oned runs one action: executable (kind, file name), argv, stdin, extra environment.

    The tests and the benchmarks describe every action run this way."""

    kind: str
    executable: str
    argv: Tuple[str, ...]
    stdin: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The start of the action's error line: ``tm clone``, ``vmm snapshot_create``."""
        return "%s %s" % (self.kind, self.executable.replace("-storpool", ""))

    def run(self, stack: "Stack", env: Optional[Mapping[str, str]] = None, **kwargs: Any) -> Result:
        """Run it; ``env`` adds to (and overrides) the invocation's own environment."""
        return stack.run(self.kind, self.executable, *self.argv, stdin=self.stdin, env=dict(self.env, **(env or {})),
                         **kwargs)

    def command(self) -> List[str]:
        """The argv of the executable itself (for tests that start it with Popen)."""
        return [str(EXECUTABLE_DIRS[self.kind] / self.executable), *self.argv]


def search_path() -> str:
    """The PATH actions run with: this interpreter's directory first, so that the executables,
    run by their first line as oned runs them, find it as python3."""
    return "%s:%s" % (os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin"))


def server_mode() -> bool:
    """Whether stacks run their actions through a resident ``onesp server`` (ONESP_TEST_SERVER=1)."""
    return os.environ.get("ONESP_TEST_SERVER", "") not in ("", "0")


class Stack:
    b = builders

    def __init__(self, sp_sim: StorPoolSim, oned_sim: OnedSim, root: Path) -> None:
        self.sp_sim = sp_sim
        self.oned = oned_sim
        self.ctl = SimControl.from_env(sp_sim.env)
        self.root = root
        self.dev_dir = Path(sp_sim.dev_dir)
        self.ds_location = root / "datastores"
        self.ds_location.mkdir(parents=True)
        self.log_file = root / "onesp.log"
        self.env: Dict[str, str] = {
            "PATH": search_path(),
            "HOME": str(root),
            "LANG": "C.UTF-8",
            "ONESP_RC": "",
            "ONESP_STORPOOL_CONF": str(root / "no-storpool.conf"),
            "ONESP_STORPOOL_CONF_D": str(root / "no-storpool.conf.d"),
            "ONESP_HOST_EXEC": "local",
            "ONESP_SP_DEV_DIR": str(self.dev_dir),
            "ONESP_SYSLOG": "0",
            "ONESP_LOG_TO_FILE": "1",
            "ONESP_LOG_FILE": str(self.log_file),
            "ONESP_LOG_LEVEL": "debug",
            "ONESP_STORPOOL_RETRIES": "2",
            "ONESP_LOCK_DIR": str(root / "locks"),
            "ONESP_SERVER_DIR": str(root / "server"),
        }
        self.env.update(sp_sim.env)
        self.env.update(oned_sim.env)
        self.token = sp_sim.env["SP_AUTH_TOKEN"]
        self.sp = storpool.StorPool(sp_sim.env["SP_API_HTTP_HOST"], int(sp_sim.env["SP_API_HTTP_PORT"]), self.token,
                                    retries=0)
        for name, client in HOSTS.items():
            self.oned.put("host", builders.host_xml(client, name, sp_ourid=client))
        self.image_ds_xml = self.put_datastore(IMAGE_DS, kind="IMAGE")
        self.system_ds_xml = self.put_datastore(SYSTEM_DS, kind="SYSTEM")
        for ds in (IMAGE_DS, SYSTEM_DS):
            self.sp.template_create("one-ds-%d" % ds, replication=3, placeAll="default", placeTail="default")
        self.server: Optional["subprocess.Popen[bytes]"] = None
        #: Set by a test that runs executables the stack's server rightly refuses (another tree,
        #: another server directory): then in-process runs are no failure of the server mode.
        self.in_process_expected = False
        if server_mode():
            self.start_server()

    # -- the resident server ---------------------------------------------------------------------------
    def start_server(self, timeout: float = 60) -> None:
        """Start ``onesp server`` on this stack's ONESP_SERVER_DIR; returns once it listens."""
        socket_path = Path(self.env["ONESP_SERVER_DIR"]) / "server.sock"
        env = dict(self.env, PYTHONPATH=str(REPO / "lib"))
        with open(self.root / "server.err", "ab") as errors:
            self.server = subprocess.Popen([sys.executable, "-m", "onesp", "server", "--dir",
                                            self.env["ONESP_SERVER_DIR"]], env=env, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=errors)
        deadline = time.monotonic() + timeout
        while not socket_path.exists():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("onesp server did not start: %s" % (self.root / "server.err").read_text()[-500:])
            time.sleep(0.02)

    def action_pids(self, client_pid: int) -> List[int]:
        """The processes that run an action started as ``client_pid``: itself in-process; with a
        server, the workers (children of the server's per-connection monitors)."""
        if self.server is None:
            return [client_pid]
        parents: Dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    parents[int(entry)] = int(Path("/proc/%s/stat" % entry).read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        monitors = {pid for pid, parent in parents.items() if parent == self.server.pid}
        return sorted(pid for pid, parent in parents.items() if parent in monitors)

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(30)
            self.server = None

    # -- documents --------------------------------------------------------------------------------
    def put_datastore(self, ds_id: int, kind: str = "IMAGE", **kwargs: Any) -> str:
        """A datastore document; a SYSTEM one has the disk types docs/installation.md sets."""
        kwargs.setdefault("location", str(self.ds_location))
        if kind == "SYSTEM":
            kwargs.setdefault("shared", True)
            kwargs["template"] = dict({"DISK_TYPE": "BLOCK", "CONTEXT_DISK_TYPE": "BLOCK"}, **(kwargs.get("template") or {}))
        xml = builders.datastore_xml(ds_id, kind=kind, **kwargs)
        self.oned.put("datastore", xml)
        return xml

    def put_image(self, image_id: int, *, size_mb: int = 16, create_volume: bool = True, data: bytes = b"",
                  **kwargs: Any) -> str:
        """An image document, and (by default) its volume ``one-img-<id>`` holding ``data`` at offset 0."""
        kwargs.setdefault("source", "one-ds-%d/one-img-%d" % (kwargs.get("datastore_id", IMAGE_DS), image_id))
        kwargs.setdefault("datastore_id", IMAGE_DS)
        xml = builders.image_xml(image_id, size=size_mb, **kwargs)
        self.oned.put("image", xml)
        if create_volume:
            name = "one-img-%d" % image_id
            self.sp.volume_create(name, size=size_mb * MIB, template="one-ds-%d" % kwargs["datastore_id"],
                                  tags={"virt": "one", "nloc": "one"})
            if data:
                self.write_volume(name, data)
        return xml

    def put_vm(self, vm_id: int, **kwargs: Any) -> str:
        kwargs.setdefault("history", (builders.history("node1", hid=1, ds_id=SYSTEM_DS),))
        xml = builders.vm_xml(vm_id, **kwargs)
        self.oned.put("vm", xml)
        return xml

    def ds_action(self, ds_xml: Optional[str] = None, image_xml: Optional[str] = None, **kwargs: Any) -> bytes:
        """A base64 DS driver action, as oned writes it to the action's stdin."""
        xml = builders.ds_driver_action_xml(ds_xml or self.image_ds_xml, image_xml, **kwargs)
        return base64.b64encode(xml.encode())

    # -- paths -------------------------------------------------------------------------------------
    def vm_dir(self, host: str, vm_id: int, ds_id: int = SYSTEM_DS) -> str:
        return "%s:%s/%d/%d" % (host, self.ds_location, ds_id, vm_id)

    def disk_path(self, host: str, vm_id: int, disk_id: int, ds_id: int = SYSTEM_DS) -> str:
        return "%s/disk.%d" % (self.vm_dir(host, vm_id, ds_id), disk_id)

    def local_disk(self, vm_id: int, disk_id: int, ds_id: int = SYSTEM_DS, host: Optional[str] = None) -> Path:
        """Where a host's disk.N is, seen from this process (``host`` needed after private_hosts())."""
        return self.host_root(host) / str(ds_id) / str(vm_id) / ("disk.%d" % disk_id)

    def private_hosts(self) -> None:
        """Give node1 and node2 separate datastores directories, as real hosts have.

        Host commands then run in a private mount namespace where ``hosts/<host>`` is mounted
        over ``ds_location`` (see host.local_runner); read a host's files with ``host_root``.
        Live migration tests need this: otherwise both hosts are one directory.
        """
        self.env["ONESP_LOCAL_PRIVATE_DIR"] = str(self.ds_location)
        self.env["ONESP_LOCAL_HOSTS_DIR"] = str(self.root / "hosts")
        for host in HOSTS:
            (self.root / "hosts" / host).mkdir(parents=True, exist_ok=True)

    def host_root(self, host: Optional[str] = None) -> Path:
        """The datastores directory of ``host`` as this process sees it."""
        if host is not None and "ONESP_LOCAL_HOSTS_DIR" in self.env:
            return Path(self.env["ONESP_LOCAL_HOSTS_DIR"]) / host
        return self.ds_location

    # -- running actions ---------------------------------------------------------------------------
    def run(self, kind: str, action: str, *argv: str, stdin: bytes = b"", env: Optional[Dict[str, str]] = None,
            timeout: float = 120) -> Result:
        executable = EXECUTABLE_DIRS[kind] / action
        full_env = dict(self.env, **(env or {}))
        proc = subprocess.run([str(executable), *argv], input=stdin, capture_output=True,
                              env=full_env, timeout=timeout, check=False)
        return Result([action, *argv], proc.returncode, proc.stdout.decode("utf-8", "replace"),
                      proc.stderr.decode("utf-8", "replace"))

    def tm(self, action: str, *argv: str, **kwargs: Any) -> Result:
        return self.run("tm", action, *argv, **kwargs)

    def ds(self, action: str, *argv: str, **kwargs: Any) -> Result:
        return self.run("ds", action, *argv, **kwargs)

    def vmm(self, action: str, *argv: str, **kwargs: Any) -> Result:
        return self.run("vmm", action, *argv, **kwargs)

    # -- StorPool state ------------------------------------------------------------------------------
    def volume(self, name: str) -> "storpoolanswers.Volume":
        return self.sp.volume(name)

    def volume_names(self) -> List[str]:
        return sorted(v["name"] for v in self.sp.volumes())

    def snapshot_names(self) -> List[str]:
        return sorted(s["name"] for s in self.sp.snapshots())

    def attachments(self, name: Optional[str] = None) -> List["storpoolanswers.Attachment"]:
        return [a for a in self.sp.attachments() if name is None or a["volume"] == name]

    def clients_of(self, name: str) -> Dict[int, str]:
        return {int(a["client"]): a["rights"] for a in self.attachments(name)}

    def state(self) -> Dict[str, Any]:
        """The emulator's normalised state (volumes, snapshots, tags, attachments) for equality checks."""
        return self.ctl.state()

    def write_volume(self, name: str, data: bytes, offset: int = 0) -> None:
        """Write through the volume's backing data as a host would through its device."""
        self.sp.attach(name, 16)
        try:
            with open(self.dev_dir / name, "r+b") as dev:
                dev.seek(offset)
                dev.write(data)
        finally:
            self.sp.detach(name, 16, force=True)

    def read_volume(self, name: str, length: int, offset: int = 0, snapshot: bool = False) -> bytes:
        self.sp.attach(name, 16, snapshot=snapshot)
        try:
            with open(self.dev_dir / name, "rb") as dev:
                dev.seek(offset)
                return dev.read(length)
        finally:
            self.sp.detach(name, 16, force=True, snapshot=snapshot)

    def log_text(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""


    @classmethod
    def start(cls, root: Path) -> "Stack":
        """Start both stand-ins under ``root`` and lay out the installation (for the demo)."""
        root.mkdir(parents=True, exist_ok=True)
        sp_sim = StorPoolSim(root / "storpool", root / "dev" / "storpool", token=new_token(), clients=range(1, 17))
        sp_sim.start()
        oned_sim = OnedSim(root / "oned", auth="oneadmin:%s" % new_token())
        oned_sim.start()
        return cls(sp_sim, oned_sim, root / "work")

    def stop(self) -> None:
        self.stop_server()
        self.oned.stop()
        self.sp_sim.stop()


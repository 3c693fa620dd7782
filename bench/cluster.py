"""One benchmark installation: a ``Stack`` (StorPool emulator + oned stand-in) with a seeded cluster.

The cluster holds ``volumes`` image volumes ``one-img-<100000+i>`` (1 GiB, template
one-ds-100, tags virt/nloc), each with one snapshot and attached read-write to one of the
emulator's 16 clients in turn, so VolumesList, SnapshotsList and AttachmentsList all grow
with it. The benchmark's own objects (image 5 and the VMs of each scenario) come on top
and are removed after each scenario (``Cleanup``), so every column keeps its size.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from onesp.sim.stack import IMAGE_DS, SYSTEM_DS, Result, Stack

MIB = 1024 * 1024
GIB = 1024 * MIB
#: The image every clone-like scenario starts from (volume one-img-5, 16 MiB).
BASE_IMAGE = 5
#: Seeded volumes are named from here on, far from the ids the scenarios use.
SEED_START = 100000
#: StorPool client id of the front-end (storpool.conf SP_OURID) for imports without a bridge.
FRONT_END_CLIENT = 3
SEED_TAGS = {"virt": "one", "nloc": "one"}
DISK_TAGS = {"virt": "one", "nloc": "one"}


class MonitordSink:
    """A UDP socket standing in for monitord: counts the VM ids the MONITOR_VM datagrams carry."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * MIB)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.datagrams = 0
        self._lock = threading.Lock()
        self._payloads: List[bytes] = []
        self._thread = threading.Thread(target=self._receive, name="monitord-sink", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            with self._lock:
                self.datagrams += 1
                self._payloads.append(data)

    def take(self) -> List[bytes]:
        with self._lock:
            out, self._payloads = self._payloads, []
        return out

    def conf_text(self) -> str:
        return ('NETWORK = [\n  ADDRESS = "0.0.0.0",\n  PORT = %d,\n  PUBKEY = "",\n  PRIKEY = "",\n'
                '  MONITOR_ADDRESS = "127.0.0.1"\n]\n' % self.port)

    def close(self) -> None:
        self.sock.close()


class Cluster:
    """A started stack, its seeded volumes, and the files the scenarios share."""

    def __init__(self, root: Path, volumes: int, latency_ms: float = 0.0, label: Optional[str] = None,
                 server: bool = False) -> None:
        self.label = label or "%d volumes" % volumes
        self.volumes = volumes
        self.latency_ms = latency_ms
        self.server = server
        self.root = root
        self.stack = Stack.start(root)
        try:
            self._lay_out()
            self._set_mode()
        except BaseException:
            self.stack.stop()
            raise

    def _lay_out(self) -> None:
        s = self.stack
        self.files = self.root / "files"
        self.files.mkdir()
        self.staging = self.root / "staging"
        self.staging.mkdir()
        s.image_ds_xml = s.put_datastore(IMAGE_DS, kind="IMAGE", template={"SAFE_DIRS": str(self.files)})
        s.put_image(BASE_IMAGE, data=b"boot sector of image 5\n" * 64)
        if self.volumes:
            s.sp_sim.seed(self.volumes, prefix="one-img-", start=SEED_START, size=GIB, template="one-ds-100",
                          tags=SEED_TAGS, snapshots=1, attach=range(1, 17))
        self.monitord = MonitordSink()
        conf = self.root / "monitord.conf"
        conf.write_text(self.monitord.conf_text())
        storpool_conf = self.root / "storpool.conf"
        storpool_conf.write_text("SP_OURID=%d\n" % FRONT_END_CLIENT)
        #: Environment every run gets on top of the stack's (as oned's would carry it).
        self.env: Dict[str, str] = {"ONESP_MONITORD_CONF": str(conf), "ONESP_STAGING_DIR": str(self.staging),
                                    "ONESP_LOG_LEVEL": "info"}
        self.front_end_env = {"ONESP_STORPOOL_CONF": str(storpool_conf)}
        if self.latency_ms:
            s.ctl.set_latency("*", self.latency_ms)

    def _set_mode(self) -> None:
        """Server mode: the stack's resident ``onesp server`` runs every action in a worker.
        In-process: no server, and ``ONESP_SERVER_DIR`` empty so the executables do not even
        look for one (whatever ONESP_TEST_SERVER says)."""
        if self.server:
            if self.stack.server is None:
                self.stack.start_server()
        else:
            self.stack.stop_server()
            self.env["ONESP_SERVER_DIR"] = ""

    # -- running -------------------------------------------------------------------------------
    def run(self, kind: str, action: str, argv: List[str], stdin: bytes = b"",
            env: Optional[Dict[str, str]] = None, timeout: float = 600) -> Result:
        return self.stack.run(kind, action, *argv, stdin=stdin, env=dict(self.env, **(env or {})), timeout=timeout)

    # -- objects the scenarios use -------------------------------------------------------------
    def disk_volume(self, vm: int, disk: int = 0, attach: Optional[int] = 1, link: bool = True,
                    type_tag: str = "NPERS") -> str:
        """The clone of image 5 that ``tm clone`` would have made for ``disk`` of ``vm`` (attached, linked)."""
        s = self.stack
        name = "one-img-%d-%d-%d" % (BASE_IMAGE, vm, disk)
        tags = dict(DISK_TAGS, nvm=str(vm), diskid=str(disk), type=type_tag)
        s.sp.volume_create(name, base_on="one-img-%d" % BASE_IMAGE, tags=tags)
        if attach is not None:
            s.sp.attach(name, attach)
        if link:
            path = s.local_disk(vm, disk)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(str(s.dev_dir / name), str(path))
        return name

    def close(self) -> None:
        try:
            self.monitord.close()
        finally:
            self.stack.stop()


class Cleanup:
    """Removes what a scenario added to a cluster: volumes, snapshots, documents, VM directories."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        s = cluster.stack
        self.volumes = self._volume_names()
        self.snapshots = self._snapshot_names()
        self.docs = {kind: set(s.oned.store.ids(kind)) for kind in ("vm", "image")}
        self.dirs = self._dirs()

    def _volume_names(self) -> Set[str]:
        return {v["name"] for v in self.cluster.stack.sp.volumes()}

    def _snapshot_names(self) -> Set[str]:
        return {v["name"] for v in self.cluster.stack.sp.snapshots()}

    def _dirs(self) -> Set[str]:
        base = self.cluster.stack.ds_location / str(SYSTEM_DS)
        return set(os.listdir(base)) if base.is_dir() else set()

    def run(self) -> Dict[str, int]:
        """Undo everything new; returns how much was removed."""
        s = self.cluster.stack
        sp = s.sp
        volumes = sorted(self._volume_names() - self.volumes)
        snapshots = sorted(self._snapshot_names() - self.snapshots)
        for name in volumes:
            sp.detach(name, "all", force=True)
        for name in volumes:
            sp.volume_delete(name)
        attached = {a["volume"] for a in sp.attachments() if a.get("snapshot")}
        for name in snapshots:
            if name in attached:
                sp.detach(name, "all", force=True, snapshot=True)
            sp.snapshot_delete(name)
        removed_docs = 0
        for kind, before in self.docs.items():
            for doc_id in set(s.oned.store.ids(kind)) - before:
                removed_docs += s.oned.delete(kind, doc_id)
        base = s.ds_location / str(SYSTEM_DS)
        for entry in self._dirs() - self.dirs:
            shutil.rmtree(base / entry, ignore_errors=True)
        return {"volumes": len(volumes), "snapshots": len(snapshots), "documents": removed_docs}


def start_clusters(root: Path, specs: List[Dict[str, Any]]) -> List[Cluster]:
    """Start one cluster per spec (``volumes``, ``latency_ms``, ``label``, ``server``) under ``root``; all or none."""
    started: List[Cluster] = []
    try:
        for n, spec in enumerate(specs):
            started.append(Cluster(root / ("cluster-%d" % n), **spec))
    except BaseException:
        for cluster in started:
            cluster.close()
        raise
    return started

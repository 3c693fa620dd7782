"""``StorPoolSim``: the emulator as an object (in-process for tests, or behind the CLI).

    sim = StorPoolSim(data_dir, dev_dir, token="42", clients=range(1, 17))
    sim.start()          # serves in a background thread, on an ephemeral port by default
    env = sim.env        # SP_API_HTTP_HOST, SP_API_HTTP_PORT, SP_AUTH_TOKEN
    sim.stop()

A new ``StorPoolSim`` on the same ``data_dir`` finds every object, attachment and byte.
Device links appear under ``dev_dir/<name>`` and ``byid_dir/<globalId>`` (by default the
sibling directory ``<dev_dir>-byid``, as /dev/storpool and /dev/storpool-byid).
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union

from .apiserver import ApiServer
from .data import BackingFiles
from .dispatch import Dispatcher
from .faults import FaultBook
from .hooks import Hooks
from .remote import Location
from .seed import seed as seed_volumes
from .state import State

PathLike = Union[str, Path]


def new_token() -> str:
    """A random decimal token, the shape StorPool's tokens have."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


class StorPoolSim:
    def __init__(
        self,
        data_dir: PathLike,
        dev_dir: PathLike,
        token: Optional[str] = None,
        clients: Iterable[int] = range(1, 17),
        listen: Tuple[str, int] = ("127.0.0.1", 0),
        *,
        byid_dir: Optional[PathLike] = None,
        cluster_id: str = "emu.a",
        cluster_name: str = "emulator",
        locations: Optional[Mapping[str, Optional[PathLike]]] = None,
        verbose: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.dev_dir = Path(dev_dir)
        self.byid_dir = Path(byid_dir) if byid_dir else self.dev_dir.with_name(self.dev_dir.name + "-byid")
        self.token = token if token else new_token()
        self.listen = listen
        self.verbose = verbose
        self.data_dir.mkdir(parents=True, exist_ok=True)
        clients = [int(c) for c in clients]
        files = BackingFiles(self.data_dir / "objects", self.dev_dir, self.byid_dir)
        self.state = State(self.data_dir, files, cluster_id, clients)
        for name, store in (locations or {}).items():
            where = Path(store) if store else self.data_dir / "locations" / name
            self.state.locations[name] = Location(name, where)
        with self.state.lock:
            attached = [self.state.objects[g] for g in self.state.attachments]
            files.sync_exposure(self.state.exposure(), {o.gid: o.size for o in attached},
                                frozenset(o.gid for o in attached if not o.is_volume))
        self.faults = FaultBook()
        self.hooks = Hooks(self.state, self.faults, clients)
        self.dispatcher = Dispatcher(self.state, self.faults, self.token, cluster_name, self.hooks, time.sleep)
        self._server: Optional[ApiServer] = None
        self._thread: Optional[threading.Thread] = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> "StorPoolSim":
        if self._server is not None:
            return self
        self._server = ApiServer(self.listen, self.dispatcher, self.verbose)
        self._thread = threading.Thread(target=self._server.serve_forever, name="storpool-sim",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the database (the data stays for the next instance)."""
        self.state.stopping = True
        with self.state.client_changed:
            self.state.client_changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self.state.lock:
            self.state.store.close()
            self.state.writes.close()

    def __enter__(self) -> "StorPoolSim":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- where to reach it -----------------------------------------------------------

    @property
    def host(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return str(self._server.server_address[0])  # an AF_INET/AF_INET6 address: already a str

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.server_address[1]

    @property
    def env(self) -> Dict[str, str]:
        return {"SP_API_HTTP_HOST": self.host, "SP_API_HTTP_PORT": str(self.port), "SP_AUTH_TOKEN": self.token}

    # ---- direct helpers --------------------------------------------------------------

    def seed(self, count: int, **kwargs: Any) -> Dict[str, int]:
        """Bulk-create volumes without HTTP (see seed.py for the parameters)."""
        return seed_volumes(self.state, count, **kwargs)

    def device_path(self, name: str) -> Path:
        return self.dev_dir / name

"""What an action works with: its arguments, configuration, clients, hosts and undo stack.

Everything is created on first use, so an action that fails on bad input never
connects anywhere, and each oned object is fetched at most once (the oned client
caches, and so does the client-id lookup).
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
from typing import IO, TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from . import arguments, clients, config
from . import storpoolapi as storpool
from .clients import ClientIds
from .errors import OnespError
from .hostexec import Host, runner_from_config
from .naming import Names
from .tagging import TagPolicy

if TYPE_CHECKING:  # the oned package pulls in lxml: imported when first used, not with every action
    from ..one import Datastore, DriverAction, OneClient

LOG = logging.getLogger("onesp")

#: One registered inverse: (label, function, positional arguments, keyword arguments); the
#: handle ``Context.undo`` returns and ``Undo.discard`` takes.
UndoEntry = Tuple[str, Callable[..., object], Tuple[object, ...], Dict[str, object]]


class Undo:
    """The undo stack: inverse steps registered after each mutating step succeeded."""

    def __init__(self) -> None:
        self.entries: List[UndoEntry] = []
        self.failures: List[str] = []

    def push(self, label: str, fn: Callable[..., object], args: Tuple[object, ...], kwargs: Dict[str, object]) -> UndoEntry:
        entry: UndoEntry = (label, fn, args, kwargs)
        self.entries.append(entry)
        return entry

    def discard(self, entry: UndoEntry) -> None:
        """Forget one registered inverse (its step turned out not to have changed anything)."""
        self.entries = [e for e in self.entries if e is not entry]

    def drop(self) -> None:
        self.entries = []

    def run(self) -> int:
        """Run every registered inverse, newest first; a failing one is logged and the rest still run."""
        done = 0
        while self.entries:
            label, fn, args, kwargs = self.entries.pop()
            try:
                fn(*args, **kwargs)
                done += 1
                LOG.info("undo: %s", label)
            except Exception as exc:  # keep undoing: the remaining steps matter as much
                self.failures.append("%s: %s" % (label, exc))
                LOG.error("undo failed: %s: %s", label, exc, exc_info=not isinstance(exc, OnespError))
        return done


class Context:
    """Passed to every action's ``run(ctx)``."""

    def __init__(self, kind: str, action: str, argv: Sequence[str], cfg: config.Config,
                 stdin: Optional[Callable[[], bytes]] = None,
                 observer: Optional[Callable[[str, str, Optional[str]], None]] = None) -> None:
        self.kind = kind
        self.action = action
        self.argv = list(argv)
        self.base_config = cfg
        self.config = cfg
        self.log = LOG
        self.current_step: Optional[str] = None
        self.undo_stack = Undo()
        self._stdin_reader = stdin
        self._stdin: Optional[bytes] = None
        self._observer = observer
        self._sp: Dict[Tuple[str, int], storpool.StorPool] = {}
        self._one: Optional[OneClient] = None
        self._hosts: Dict[str, Host] = {}
        self._client_ids: Optional[ClientIds] = None
        self._locks: Dict[str, IO[bytes]] = {}  # name -> open lock file, in the order taken

    # -- input -----------------------------------------------------------------------------------
    @property
    def stdin(self) -> bytes:
        if self._stdin is None:
            self._stdin = self._stdin_reader() if self._stdin_reader else b""
        return self._stdin

    def ds_action(self) -> Tuple[int, DriverAction]:
        """(id, DriverAction) of a DS action; the action's datastore configures this context."""
        from ..one import decode_driver_action

        object_id, encoded = self._ds_args()
        with self.step("decode the driver action"):
            action = decode_driver_action(encoded)
        self.use_datastore(action.datastore)
        return object_id, action

    def ds_action_text(self) -> bytes:
        """The DS driver action as oned passed it (base64, or plain XML), for helpers that read it themselves."""
        return self._ds_args()[1]

    def _ds_args(self) -> Tuple[int, bytes]:
        return arguments.ds_args(self.argv, self.stdin if len(self.argv) != 2 or self.argv[0] == "-" else b"")

    # -- configuration -------------------------------------------------------------------------------
    def use_datastore(self, datastore: Datastore) -> None:
        """Apply a datastore's attributes (API endpoint, limits, SP_SYSTEM) to this action's config."""
        self.config = self.base_config.with_datastore(datastore.template, "datastore %s" % datastore.id)
        for warning in self.config.warnings[len(self.base_config.warnings):]:
            self.log.warning("configuration: %s", warning)

    @property
    def names(self) -> Names:
        return self.config.names

    @property
    def tags(self) -> TagPolicy:
        return self.config.tags

    # -- clients ---------------------------------------------------------------------------------------
    @property
    def sp(self) -> storpool.StorPool:
        """The StorPool client for the current configuration's endpoint."""
        key = self.config.endpoint
        if key not in self._sp:
            from .logs import SECRETS

            SECRETS.add(self.config.SP_AUTH_TOKEN)
            self._sp[key] = storpool.from_config(self.config, self._observer)
        return self._sp[key]

    @property
    def one(self) -> OneClient:
        """The oned XML-RPC client (each object fetched once per action)."""
        if self._one is None:
            from ..one import OneClient

            self._one = OneClient.from_environment(self.base_config.oned_environment(os.environ))
        return self._one

    def host(self, name: str) -> Host:
        if name not in self._hosts:
            self._hosts[name] = Host(name, runner_from_config(self.config), self.config.SSH_TIMEOUT)
        return self._hosts[name]

    def client_id(self, host: str) -> int:
        """The StorPool client id of ``host`` (see ``clients``)."""
        if self._client_ids is None:

            def onehost(name: str) -> Optional[str]:
                return self.one.host(name).template.get("SP_OURID")

            def fromhost(name: str) -> str:
                return self.host(name).run(["storpool_confget"], what="storpool_confget")

            self._client_ids = clients.from_config(self.config, onehost, fromhost)
        with self.step("find the StorPool client id of %s" % host):
            return self._client_ids(host)

    def device_path(self, volume: str) -> str:
        """Where an attached volume appears on a host (SP_DEV_DIR, /dev/storpool by default)."""
        return posixpath.join(self.config.SP_DEV_DIR, volume)

    def lock(self, name: str) -> None:
        """Wait for, then hold until the action ends, the front-end lock ``name`` (e.g. ``vm-42``).

        oned runs actions in parallel; the few that must not overlap for one object (two
        migrate hooks of one VM, two runs creating one volume: ``volumes.hold``) take its
        lock; taking a lock this action holds already is a no-op. It is an flock on a file in
        LOCK_DIR, released when the action ends (``release``) — and by the kernel if the process
        dies. ``locks`` makes and checks the directory, so another local account cannot squat or
        redirect it.
        """
        from . import locks

        if name in self._locks:
            return  # held already by this action (flock would wait for its own other descriptor)
        with self.step("lock %s" % name):
            handle = locks.hold(self.config.LOCK_DIR, name)
        self._locks[name] = handle

    def release(self) -> None:
        """Give up the locks (the driver calls it when the action has ended, undo included)."""
        while self._locks:
            self._locks.popitem()[1].close()

    # -- steps and undo --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        """Name what the action is doing, so a failure inside says which step failed."""
        previous = self.current_step
        self.current_step = description
        LOG.debug("step: %s", description)
        try:
            yield
        except BaseException as exc:  # the innermost step names where anything went wrong
            if getattr(exc, "step", None) is None:
                try:
                    exc.step = description  # type: ignore[attr-defined]
                except AttributeError:
                    pass
            raise
        finally:
            self.current_step = previous

    def undo(self, fn: Callable[..., object], *args: object, label: Optional[str] = None, **kwargs: object) -> UndoEntry:
        """Register the inverse of a step; it runs only if the action fails.

        Register it right after the step succeeds — or right before the call when a lost answer
        could hide that StorPool acted, with an inverse that is harmless if nothing happened.
        Returns a handle for ``undo_stack.discard``.
        """
        name = label or "%s(%s)" % (getattr(fn, "__name__", "undo"), ", ".join(str(a) for a in args))
        return self.undo_stack.push(name, fn, args, kwargs)

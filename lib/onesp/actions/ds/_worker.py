"""Where image data is written: a bridge host of the datastore, or the front-end itself.

The addon's rule, kept so that an image always lands on the same bridge: of the hosts in
BRIDGE_LIST that oned monitors (state 1 or 2), take the one at index ``<id> mod <count>``.
Without BRIDGE_LIST the front-end must be a StorPool client and does the work itself; its
client id is the ``SP_OURID`` of its own storpool.conf (what ``storpool ... here`` uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

from ...runtime import attaching
from ...runtime.configfiles import local_storpool_conf, this_host
from ...runtime.errors import BadInput, ConfigError, NotFound
from ...runtime.hostexec import Host, Stdin, check_host, local_runner

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context

#: Effectively no limit: imports, conversions and mkfs take as long as the data needs
#: (SSH_TIMEOUT is for the short host commands).
LONG_TIMEOUT = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Worker:
    """A StorPool client that runs dd, qemu-img and mkfs on attached volumes."""

    name: str
    host: Host
    client: Optional[int]  # known up front for the front-end; looked up for bridges
    local: bool  # the front-end itself: files of the front-end are readable directly

    def run_long(self, argv: Sequence[str], what: str, stdin: Stdin = None) -> str:
        """Run one long command (dd, qemu-img, mkfs) without a time limit.

        ``exec`` makes the command replace the shell that carries it, so when the action is
        stopped (SIGTERM, failure) the process that gets killed is the command itself rather
        than a shell that would leave it running against a volume being detached.
        """
        return self.host.run(["exec"] + list(argv), stdin=stdin, timeout=LONG_TIMEOUT, what=what)

    def attach(self, ctx: Context, volume: str, *, snapshot: bool = False) -> str:
        """Attach ``volume`` (read-write; snapshots read-only) here; undone on failure. Returns its device."""
        return attaching.attach(ctx, volume, self.name, snapshot=snapshot, client=self.client)


def choose(ctx: Context, bridges: Sequence[str], key: int) -> Worker:
    """The bridge for object ``key`` (image or app id), or the front-end when ``bridges`` is empty."""
    if not bridges:
        return front_end(ctx)
    with ctx.step("choose a bridge host of %s" % " ".join(bridges)):
        usable = []
        for name in bridges:
            check_host(name)
            try:
                host = ctx.one.host(name)
            except NotFound:
                ctx.log.warning("bridge %s is not an OpenNebula host; skipped", name)
                continue
            if host.is_monitored:
                usable.append(name)
            else:
                ctx.log.info("bridge %s is %s; skipped", name, host.state_name)
        if not usable:
            raise ConfigError("no host of the bridge list (%s) is monitored by OpenNebula" % " ".join(bridges))
    name = usable[key % len(usable)]
    ctx.log.debug("bridge for %d: %s", key, name)
    return Worker(name, ctx.host(name), None, False)


def front_end(ctx: Context) -> Worker:
    """This machine as the worker (empty BRIDGE_LIST)."""
    hostname = this_host()
    with ctx.step("find the StorPool client id of this front-end"):
        conf = local_storpool_conf()
        raw = conf.get("SP_OURID", ("", ""))[0].strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 4095:
            raise ConfigError("the datastore has no BRIDGE_LIST, so this front-end works on images itself, "
                              "but its storpool.conf has no valid SP_OURID")
    try:
        label = check_host(hostname)
    except BadInput:
        label = "localhost"
    return Worker(label, Host(label, local_runner, ctx.config.SSH_TIMEOUT), int(raw), True)

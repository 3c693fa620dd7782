"""Domain operations on a host, as ``virsh`` argv lists (LIBVIRT_URI): guest freeze and stop.

Used by the VM snapshot helpers and by the TM actions that freeze a running guest
(live disk snapshot, live backup, save-as).

* ``frozen(ctx, host, domain)``: guest filesystems frozen through the qemu guest agent
  (``virsh domfsfreeze``) for the duration of a ``with`` block, and thawed when it ends,
  however it ends (failure, timeout, signal). A freeze that fails is logged and the snapshot
  goes on crash-consistent, as the addon does; a thaw that fails after a successful freeze is
  retried once and then fails the action, because a guest left frozen must not go unnoticed.
* ``stop(ctx, host, domain)``: ``virsh destroy``; a domain that is already gone or shut off
  counts as stopped, anything else (libvirt unreachable, ssh failure) is an error.
* ``domain_state(ctx, host, domain)``: ``virsh domstate``, ``absent`` for a domain libvirt
  does not know, None when it cannot be learnt.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import TYPE_CHECKING, Iterator, List, Optional

from .errors import BadInput, HostError

if TYPE_CHECKING:
    from .actioncontext import Context

THAW_RETRY_SECONDS = 0.2
_ABSENT = ("failed to get domain", "domain not found", "no domain with matching")


_DOMAIN = re.compile(r"[A-Za-z0-9_.\-]{1,128}\Z")


def virsh(ctx: Context, *args: str) -> List[str]:
    return ["virsh", "--connect", ctx.config.LIBVIRT_URI, *args]


@contextlib.contextmanager
def frozen(ctx: Context, host: str, domain: Optional[str], enabled: bool = True) -> Iterator[bool]:
    """Freeze ``domain``'s guest filesystems for the block; yields whether the freeze worked.

    With ``enabled`` false or no domain (the VM is not running) it does nothing.
    """
    if not enabled or not domain:
        yield False
        return
    if not _DOMAIN.match(domain):
        raise BadInput("invalid domain name %r" % (domain,))
    node = ctx.host(host)
    froze = False
    try:
        node.run(virsh(ctx, "domfsfreeze", domain), what="virsh domfsfreeze %s" % domain)
        froze = True
    except HostError as exc:
        ctx.log.warning("freezing the filesystems of %s failed, the snapshot is crash-consistent: %s", domain, exc)
    try:
        yield froze
    except BaseException as exc:
        _thaw(ctx, host, domain, froze, exc)
        raise
    _thaw(ctx, host, domain, froze, None)


def _thaw(ctx: Context, host: str, domain: str, froze: bool, pending: Optional[BaseException]) -> None:
    """Thaw; also after a failed freeze, which may have frozen some filesystems before timing out."""
    failure = _run_twice(ctx, host, virsh(ctx, "domfsthaw", domain), "virsh domfsthaw %s" % domain)
    if failure is None:
        return
    if not froze:
        ctx.log.info("thaw of %s after a failed freeze: %s", domain, failure)
        return
    if pending is not None:
        ctx.log.error("the action failed (%s) and then the filesystems of %s could not be thawed", pending, domain)
    with ctx.step("thaw the filesystems of %s on %s" % (domain, host)):
        raise failure


def _run_twice(ctx: Context, host: str, argv: List[str], what: str) -> Optional[HostError]:
    """Run ``argv``, once more after a short pause if it fails; the last failure, or None."""
    failure: Optional[HostError] = None
    for attempt in range(2):
        if attempt:
            time.sleep(THAW_RETRY_SECONDS)
        try:
            ctx.host(host).run(argv, what=what)
            return None
        except HostError as exc:
            failure = exc
    return failure


def stop(ctx: Context, host: str, domain: str) -> None:
    """Stop ``domain`` on ``host`` at once (``virsh destroy``); already stopped is fine."""
    node = ctx.host(host)
    with ctx.step("stop domain %s on %s" % (domain, host)):
        try:
            node.run(virsh(ctx, "destroy", domain), what="virsh destroy %s" % domain)
            return
        except HostError as failure:
            state = domain_state(ctx, host, domain)
            if state in ("absent", "shut off"):
                ctx.log.info("domain %s on %s is already stopped (%s)", domain, host, state)
                return
            raise failure


def domain_state(ctx: Context, host: str, domain: str) -> Optional[str]:
    """``virsh domstate``: its answer, ``absent`` when libvirt does not know the domain, None when unknown."""
    try:
        out = ctx.host(host).run(virsh(ctx, "domstate", domain), what="virsh domstate %s" % domain)
    except HostError as exc:
        if any(marker in exc.stderr_line.lower() for marker in _ABSENT):
            return "absent"
        ctx.log.error("cannot learn the state of %s on %s: %s", domain, host, exc)
        return None
    return out.strip().lower() or None

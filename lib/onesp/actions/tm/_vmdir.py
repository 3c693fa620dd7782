"""The VM directory (deployment file, disk symlinks, checkpoint) moved from host to host.

With ``SP_SYSTEM=ssh`` the system datastore directory is local to each host, so whatever
the VM directory holds besides the StorPool symlinks must follow the VM. The copy is
``tar`` on the source host streamed into ``tar`` on the destination through a pipe on the
front-end (``host.spawn``), argv only, never a shell pipeline assembled from input, and
without the host-to-host ssh trust the addon's ``tar | ssh`` needed.

Before anything is copied or removed, ``survey`` drops a probe file into the destination
directory and looks for it through the source host: if it is visible there, both paths are
one directory (a shared filesystem, or one machine) and there is nothing to copy and
nothing to remove — removing the "source" would delete the destination.
"""

from __future__ import annotations

import posixpath
import subprocess
import tempfile
from dataclasses import dataclass
from typing import FrozenSet, Optional

from ...runtime import hostexec as hosts
from ...runtime.actioncontext import Context
from ...runtime.errors import HostError
from ...runtime.naming import unique_token

_PROBE = ".onesp-probe-"
#: A directory with a memory checkpoint can take long to copy; the copy is still stopped by SIGTERM.
COPY_TIMEOUT = 6 * 3600.0

_LOOK_AT_DESTINATION = (
    'if [ -d "$1" ]; then echo existed; : > "$1/$2"; '
    "find \"$1\" -mindepth 1 -maxdepth 1 ! -name \"$2\" -printf '%f/'; echo; else echo missing; fi"
)
_LOOK_AT_SOURCE = (
    'if [ -d "$1" ]; then if [ -e "$1/$2" ]; then echo same; else echo other; fi; '
    "find \"$1\" -mindepth 1 -maxdepth 1 ! -name '.onesp-probe-*' -printf '%f/'; echo; else echo missing; fi"
)


@dataclass(frozen=True)
class Survey:
    """What the source and destination directories hold before a move."""

    source_exists: bool
    same: bool  # one directory seen from both hosts
    destination_existed: bool
    source_names: FrozenSet[str]
    destination_names: FrozenSet[str]

    @property
    def needs_copy(self) -> bool:
        return self.source_exists and not self.same


def survey(ctx: Context, src_host: str, src_dir: str, dst_host: str, dst_dir: str) -> Survey:
    """Look at both directories (three short host commands)."""
    if src_host == dst_host and src_dir == dst_dir:
        return Survey(True, True, True, frozenset(), frozenset())
    probe = _PROBE + unique_token(8)
    destination = ctx.host(dst_host)
    remove_probe = ["rm", "-f", "--", posixpath.join(dst_dir, probe)]
    # registered before the look writes it: a SIGTERM that cuts off the answer still removes it
    entry = ctx.undo(destination.run, remove_probe, what="remove probe",
                     label="remove the probe in %s on %s" % (dst_dir, dst_host))
    with ctx.step("look at %s on %s" % (dst_dir, dst_host)):
        state, dst_names = _parse(destination.run(["sh", "-c", _LOOK_AT_DESTINATION, "sh", dst_dir, probe],
                                                  what="look at %s" % dst_dir))
    try:
        with ctx.step("look at %s on %s" % (src_dir, src_host)):
            seen, src_names = _parse(ctx.host(src_host).run(["sh", "-c", _LOOK_AT_SOURCE, "sh", src_dir, probe],
                                                            what="look at %s" % src_dir))
    finally:
        if state == "existed":
            with ctx.step("remove the probe in %s on %s" % (dst_dir, dst_host)):
                destination.run(remove_probe, what="remove probe")
        ctx.undo_stack.discard(entry)
    return Survey(seen != "missing", seen == "same", state == "existed", src_names, dst_names)


def _parse(output: str) -> "tuple[str, FrozenSet[str]]":
    lines = output.splitlines()
    state = lines[0].strip() if lines else ""
    names = lines[1] if len(lines) > 1 else ""
    return state, frozenset(n for n in names.split("/") if n and n not in (".", ".."))


def make(ctx: Context, host: str, path: str, monitor_marker: Optional[str], existed: Optional[bool] = None) -> None:
    """``mkdir -p`` the VM directory; with a marker (system datastore not shared) also write
    ``<sysds>/.monitor`` as the addon does. A directory made here is removed on undo.

    Whether the directory was there is known before it is made (``existed``, from a survey, or
    one short look), so its undo is in place before mkdir runs: a SIGTERM that cuts off
    mkdir's answer still removes the directory, and a directory that was there is never removed.
    """
    node = ctx.host(host)
    if existed is None:
        with ctx.step("look at %s on %s" % (path, host)):
            existed = node.run(["sh", "-c", 'if [ -d "$1" ]; then echo existed; fi', "sh", path],
                               what="look at %s" % path).strip() == "existed"
    commands = [] if existed else [["mkdir", "-p", "--", path]]
    if monitor_marker:
        marker = posixpath.join(posixpath.dirname(path), ".monitor")
        commands.append(["sh", "-c", 'printf "%s\\n" "$2" > "$1"', "sh", marker, monitor_marker])
    if not commands:
        return
    if not existed:
        ctx.undo(node.remove_tree, path, label="remove %s on %s" % (path, host))
    with ctx.step("make %s on %s" % (path, host)):
        node.run(*commands, what="mkdir %s" % path)


def copy(ctx: Context, src_host: str, src_dir: str, dst_host: str, dst_dir: str, seen: Survey) -> bool:
    """Copy the contents of ``src_dir`` into ``dst_dir`` (made if missing); False if there was
    nothing to copy. Undo removes what the copy added to the destination."""
    if not seen.needs_copy:
        return False
    destination = ctx.host(dst_host)
    if not seen.destination_existed:
        ctx.undo(destination.remove_tree, dst_dir, label="remove %s on %s" % (dst_dir, dst_host))
    else:
        added = sorted(seen.source_names - seen.destination_names)
        if added:
            paths = [hosts.check_path(posixpath.join(dst_dir, name)) for name in added]
            ctx.undo(destination.run, ["rm", "-rf", "--"] + paths, what="remove copied files",
                     label="remove what was copied into %s on %s" % (dst_dir, dst_host))
    with ctx.step("copy %s from %s to %s on %s" % (src_dir, src_host, dst_dir, dst_host)):
        if src_host == dst_host:
            destination.run(["mkdir", "-p", "--", dst_dir], ["cp", "-a", "--sparse=always", "--", src_dir + "/.", dst_dir],
                            timeout=COPY_TIMEOUT, what="copy %s" % src_dir)
        else:
            _stream(ctx, src_host, src_dir, destination, dst_dir)
    return True


def _stream(ctx: Context, src_host: str, src_dir: str, destination: hosts.Host, dst_dir: str) -> None:
    """tar on the source host, its output piped into tar on the destination host."""
    with tempfile.TemporaryFile() as errors:
        sender = hosts.spawn(ctx.config, src_host, [["tar", "-C", src_dir, "--sparse", "-cf", "-", "."]],
                             stdout=subprocess.PIPE, stderr=errors)
        try:
            try:
                destination.run(["mkdir", "-p", "--", dst_dir], ["tar", "-C", dst_dir, "--sparse", "-xf", "-"],
                                stdin=sender.stdout, timeout=COPY_TIMEOUT, what="tar -x into %s" % dst_dir)
            finally:
                if sender.stdout is not None:
                    sender.stdout.close()
            code = sender.wait(timeout=60)
        except subprocess.TimeoutExpired:
            hosts.stop(sender)
            code = sender.wait()
        except BaseException:
            hosts.stop(sender)  # the receiver failed or the action was stopped: so does the sender
            raise
        if code != 0:
            errors.seek(0)
            first = next((ln.strip() for ln in errors.read().decode("utf-8", "replace").splitlines() if ln.strip()), "")
            raise HostError(src_host, "tar -c %s" % src_dir, first[:300], code)


def remove(ctx: Context, host: str, path: str) -> None:
    """Remove the VM directory on ``host`` (a deletion: the last step of an action)."""
    with ctx.step("remove %s on %s" % (path, host)):
        ctx.host(host).remove_tree(path)

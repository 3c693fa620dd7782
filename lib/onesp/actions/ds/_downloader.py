"""Images fetched by OpenNebula's own downloader: restored backups, private S3 marketplaces.

Restoring a backup (``onebackup restore``, ``oneimage restore``) creates one image per disk with
a PATH that points into a backup datastore, e.g.
``rsync://<backup ds>/<backup job>/<increment>:<backup id>,...//<path of disk.<n>.<increment> on
the backup host>`` (``restic://`` likewise). Only that datastore's helper in the remotes tree
(``datastore/rsync_downloader.rb``, ``restic_downloader.rb``) can read it: it asks oned for the
backup datastore (RSYNC_HOST, RSYNC_USER, BASE_PATH, or the restic repository), merges an
incremental chain into one qcow2 on the backup host and removes that copy afterwards. An
``s3://`` PATH takes its keys from the MARKETPLACE in the driver action. OpenNebula's
``datastore/downloader.sh`` dispatches all of them, and the addon handed every such PATH to it.

onesp does the same rather than re-implementing each backup driver (which would fall behind
them): it runs ``DOWNLOADER`` (default: ``datastore/downloader.sh`` of the remotes tree onesp is
installed in) as ``downloader.sh --nodecomp <url> -``, the URL one argv element and never part
of a shell string, with the driver action in ``DRV_ACTION`` as the addon exported it, and the
StorPool token neither in that action nor in the environment. Its stdout is streamed into the Fetcher's private
directory with the same MD5/SHA1, decompression (unless NO_DECOMPRESS) and LIMIT_TRANSFER_BW as
an http(s) download; the downloader runs in a process group of its own that is ended when the
action stops early, and its error output becomes the one-line error.

Schemes passed on: rsync and restic (backups), s3 (private marketplaces), ssh and rbd (the other
sources the addon passed on). Backups in Ceph's RBD format (``rsync+rbd://``, ``restic+rbd://``)
are a tarball of RBD diffs that only a Ceph datastore can import, so they are refused here.
lxd:// (LXD container images), vcenter:// (gone from OpenNebula 7's downloader) and netapp://
(a NetApp datastore's own volumes) are not sources for a StorPool image.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from ...errors import BackendError, ConfigError, Unsupported
from ...progress import Progress
from . import _imports as imports

SCHEMES = frozenset(("rsync", "restic", "s3", "ssh", "rbd"))
_RBD_BACKUPS = frozenset(("rsync+rbd", "restic+rbd"))
_HIDDEN_ENV = ("SP_AUTH_TOKEN", "ONESP_SP_AUTH_TOKEN")


def passes(scheme: str) -> bool:
    """True for a scheme handed to OpenNebula's downloader; an RBD-format backup is refused."""
    name = scheme.lower()
    if name in _RBD_BACKUPS:
        raise Unsupported("%s:// is a backup in Ceph's RBD format, which only a Ceph datastore can restore" % scheme)
    return name in SCHEMES


def downloader_path(config: Any) -> str:
    """DOWNLOADER, else ``datastore/downloader.sh`` beside onesp's ``lib`` in the remotes tree."""
    configured = str(config.DOWNLOADER or "").strip()
    if configured:
        path = configured
    else:
        import onesp

        remotes = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(onesp.__file__))))
        path = os.path.join(remotes, "datastore", "downloader.sh")
    if not os.path.isabs(path):
        raise ConfigError("DOWNLOADER is %r: give the absolute path of OpenNebula's downloader.sh" % path[:120])
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ConfigError("OpenNebula's downloader %s is missing or not executable (set DOWNLOADER)" % path)
    return path


def encoded_action(ctx: Any) -> str:
    """The driver action as base64, the form OpenNebula's downloader reads from DRV_ACTION, without
    the datastore's SP_AUTH_TOKEN (no downloader needs it; s3 reads the MARKETPLACE part)."""
    from lxml import etree

    from ...one.xmlsafe import decode_base64, looks_like_xml, parse_xml

    data = ctx.ds_action_text()
    root = parse_xml(data if looks_like_xml(data) else decode_base64(data, what="driver action"),
                     what="driver action", root="DS_DRIVER_ACTION_DATA")
    for secret in root.findall("DATASTORE/TEMPLATE/SP_AUTH_TOKEN"):
        secret.getparent().remove(secret)
    return base64.b64encode(etree.tostring(root)).decode("ascii")


class Downloader:
    """Runs the downloader for one action and keeps its output in ``fetcher``'s directory."""

    def __init__(self, ctx: Any, fetcher: imports.Fetcher) -> None:
        self.ctx = ctx
        self.fetcher = fetcher
        self.program = downloader_path(ctx.config)
        env = {key: value for key, value in os.environ.items() if key not in _HIDDEN_ENV}
        env["DRV_ACTION"] = encoded_action(ctx)
        self.env = env

    def download(self, url: str) -> imports.LocalImage:
        """The whole image (decompressed here when it is compressed and NO_DECOMPRESS is off)."""
        description = imports.shown(url)
        target = os.path.join(self.fetcher.directory, "download")
        with Progress(self.ctx.log, "download %s" % description) as progress:
            count, digests = self._run(url, [], target, None, progress)
        fetcher = self.fetcher
        with open(target, "rb") as handle:
            kind = imports.compression(handle.read(8)) if fetcher.decompress else None
            if kind is None:
                return imports.LocalImage(target, count, digests, description)
            handle.seek(0)
            result = fetcher._unpack(handle, kind, description)
        os.unlink(target)
        return imports.LocalImage(result.path, result.size, digests, description, kind)

    def head(self, url: str, limit: int = imports.CHUNK) -> Tuple[str, Optional[int], bool]:
        """The first ``limit`` bytes (the downloader's --max-size): (path, size if all read, all read)."""
        target = os.path.join(self.fetcher.directory, "head")
        count, _ = self._run(url, ["--max-size", str(limit)], target, limit, None)
        complete = count < limit
        return target, (count if complete else None), complete

    def _run(self, url: str, options: List[str], target: str, limit: Optional[int],
             progress: Optional[Progress]) -> Tuple[int, Dict[str, str]]:
        from ...host import stop

        description = imports.shown(url)
        argv = [self.program, "--nodecomp"] + options + [url, "-"]
        rate = self.fetcher.rate_limit
        chunk = imports.CHUNK if not rate else max(16384, min(imports.CHUNK, rate // 4))
        with tempfile.TemporaryFile(dir=self.fetcher.directory) as errors, open(target, "wb") as out:
            self.ctx.log.debug("running %s for %s", self.program, description)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                                        env=self.env, start_new_session=True)
            except OSError as exc:
                raise ConfigError("cannot run OpenNebula's downloader %s: %s"
                                  % (self.program, exc.strerror or exc)) from None
            reader = imports._Hashing(proc.stdout, self.fetcher.digests)
            written = 0
            started = time.monotonic()
            try:
                while True:
                    data = reader.read(chunk)
                    if not data:
                        break
                    if limit is not None:  # the downloader stops at --max-size and then cleans up: let it
                        data = data[:max(0, limit - written)]
                    out.write(data)
                    written += len(data)
                    if progress is not None:
                        progress.done = written
                    if rate:  # ahead of the allowed rate: wait until it catches up
                        time.sleep(max(0.0, reader.count / rate - (time.monotonic() - started)))
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    stop(proc)
                proc.stdout.close()  # type: ignore[union-attr]
            if code != 0:
                errors.seek(0)
                raise BackendError("%s exited with status %d: %s" % (self.program, code, _reason(errors.read(65536))))
        return written, reader.digests()


def _reason(stderr: bytes) -> str:
    """The downloader's own explanation: its last line, unless that is only its closing 'Error copying'."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) > 1 and lines[-1] == "Error copying":
        lines.pop()
    return lines[-1][:300] if lines else "no error output"

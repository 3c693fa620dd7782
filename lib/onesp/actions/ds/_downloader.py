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
StorPool token neither in that action nor in the environment. Its stdout goes into the Fetcher's
private directory through ``Fetcher.receive``, as an http(s) download does: the same MD5/SHA1,
LIMIT_TRANSFER_BW and bound on size (see ``Fetcher``), then the same bounded decompression
(unless NO_DECOMPRESS) and an open descriptor that ``qemu-img info`` and ``qemu-img check`` read.
The downloader runs in a process group of its own that is ended when the action stops early
(or the bound is passed), and its error output becomes the one-line error. DOWNLOAD_TIMEOUT
is for http(s) only: the downloader may spend long merging increments on the backup host
before it sends the first byte.

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
from typing import IO, TYPE_CHECKING, Callable, List, Optional, Tuple, TypeVar

from ...runtime.errors import BackendError, ConfigError, Unsupported
from . import _imports as imports
from ._download import shown
from ._reading import CHUNK

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context
    from ...runtime.config import Config

SCHEMES = frozenset(("rsync", "restic", "s3", "ssh", "rbd"))
_RBD_BACKUPS = frozenset(("rsync+rbd", "restic+rbd"))
_HIDDEN_ENV = ("SP_AUTH_TOKEN", "ONESP_SP_AUTH_TOKEN")
_T = TypeVar("_T")


def passes(scheme: str) -> bool:
    """True for a scheme handed to OpenNebula's downloader; an RBD-format backup is refused."""
    name = scheme.lower()
    if name in _RBD_BACKUPS:
        raise Unsupported("%s:// is a backup in Ceph's RBD format, which only a Ceph datastore can restore" % scheme)
    return name in SCHEMES


def downloader_path(config: Config) -> str:
    """DOWNLOADER, else ``datastore/downloader.sh`` beside onesp's ``lib`` in the remotes tree."""
    configured = config.DOWNLOADER.strip()
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


def encoded_action(ctx: Context) -> str:
    """The driver action as base64, the form OpenNebula's downloader reads from DRV_ACTION, without
    the datastore's SP_AUTH_TOKEN (no downloader needs it; s3 reads the MARKETPLACE part)."""
    from lxml import etree

    from ...one.xmlsafe import decode_base64, looks_like_xml, parse_xml

    data = ctx.ds_action_text()
    root = parse_xml(data if looks_like_xml(data) else decode_base64(data, what="driver action"),
                     what="driver action", root="DS_DRIVER_ACTION_DATA")
    for template in root.findall("DATASTORE/TEMPLATE"):
        for secret in template.findall("SP_AUTH_TOKEN"):
            template.remove(secret)
    return base64.b64encode(etree.tostring(root)).decode("ascii")


class Downloader:
    """Runs the downloader for one action and keeps its output in ``fetcher``'s directory."""

    def __init__(self, ctx: Context, fetcher: imports.Fetcher) -> None:
        self.ctx = ctx
        self.fetcher = fetcher
        self.program = downloader_path(ctx.config)
        env = {key: value for key, value in os.environ.items() if key not in _HIDDEN_ENV}
        env["DRV_ACTION"] = encoded_action(ctx)
        self.env = env

    def download(self, url: str, enough: Optional[imports.Enough] = None) -> imports.LocalImage:
        """The whole image, held open (decompressed here when it is compressed and NO_DECOMPRESS is
        off; ``enough`` may end that early, see ``Fetcher._unpack``)."""
        description = shown(url)
        local, _ = self._run(url, [], lambda out: self.fetcher.take(out, description, None, "download %s" % description,
                                                                    enough))
        return local

    def head(self, url: str, limit: int = CHUNK) -> Tuple[int, Optional[int], bool]:
        """The first ``limit`` bytes (the downloader's --max-size): (their descriptor, size if all
        read, all read)."""
        target, count, _ = self._run(url, ["--max-size", str(limit)],
                                     lambda out: self.fetcher.receive(out, "head", shown(url), keep=limit))
        complete = count < limit
        return self.fetcher.held(target), (count if complete else None), complete

    def _run(self, url: str, options: List[str], consume: Callable[[IO[bytes]], _T]) -> _T:
        """Run the downloader; ``consume`` (``Fetcher.receive`` or ``Fetcher.take``: their bounds and
        pace) reads its output, and what it returns is returned."""
        from ...runtime.hostexec import stop

        description = shown(url)
        argv = [self.program, "--nodecomp"] + options + [url, "-"]
        with tempfile.TemporaryFile(dir=self.fetcher.directory) as errors:
            self.ctx.log.debug("running %s for %s", self.program, description)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                                        env=self.env, start_new_session=True)
            except OSError as exc:
                raise ConfigError("cannot run OpenNebula's downloader %s: %s"
                                  % (self.program, exc.strerror or exc)) from exc
            output = proc.stdout
            assert output is not None  # stdout=PIPE
            try:
                # the downloader stops at --max-size and then cleans up: its output is read to the end
                received = consume(output)
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    stop(proc)
                output.close()
            if code != 0:
                errors.seek(0)
                raise BackendError("%s exited with status %d: %s" % (self.program, code, _reason(errors.read(65536), url)))
        return received


def _reason(stderr: bytes, url: str) -> str:
    """The downloader's own explanation: its last line, unless that is only its closing 'Error copying'.

    The downloader may quote the URL as it was given, password included: the URL is put as
    ``shown`` shows it, and a password left anywhere else is masked.
    """
    from urllib.parse import unquote, urlsplit

    text = stderr.decode("utf-8", "replace").replace(url, shown(url))
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***").replace(unquote(password), "***")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[-1] == "Error copying":
        lines.pop()
    return lines[-1][:300] if lines else "no error output"

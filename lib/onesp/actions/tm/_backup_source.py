"""Reading a backup back from the backup datastore, through that datastore's own driver.

As OpenNebula's own restore does, two scripts of the front-end's remotes tree are run
locally: ``datastore/<backup DS_MAD>/ls -i <increment>`` with a driver action (the backup
datastore, the VM and the backup image, plain XML) on stdin, which prints
``{"<disk id>": "<url>", ...}``; and ``datastore/downloader.sh --nodecomp <url> -``, which
writes a disk's backup file to stdout. That stream goes straight to a file on the VM's
host (never through memory or a file on the front-end).

The remotes tree is found where our executable runs from (``<remotes>/tm/storpool/restore``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ...one import Datastore, Image, Vm, decode_vm_document, parse_xml
from ...runtime.actioncontext import Context
from ...runtime.errors import BackendError, BadInput, NotFound

#: How long the backup driver may take to list a backup.
LIST_TIMEOUT = 600.0
_MAD = re.compile(r"[a-z0-9][a-z0-9_\-]{0,31}\Z")
_URL = re.compile(r"[^\s\x00-\x1f\x7f]{1,4096}\Z")


def remotes_directory() -> str:
    """``<remotes>``: two levels above the directory our executable was started from."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0]))))


def _first_error(stderr: bytes, returncode: int) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    text = next((ln for ln in lines if not ln.startswith(("ERROR:", "INFO:", "WARN:", "DEBUG:"))),
                lines[0] if lines else "exit status %d" % returncode)
    return text[:300]


@dataclass(frozen=True)
class BackupImage:
    """The VM, the backup image and its datastore, as views and as the documents oned gave."""

    vm: Vm
    image: Image
    datastore: Datastore  # of the backup image
    documents: Tuple[str, str, str]  # datastore (secrets decrypted), VM, image


def read(ctx: Context, vm_id: int, image_id: int) -> BackupImage:
    """Each of the three documents fetched once; the views are parsed from the same text."""
    with ctx.step("read VM %d" % vm_id):
        vm_xml = ctx.one.document("vm", vm_id)
        vm = decode_vm_document(vm_xml)
    ctx.one.remember(vm)
    with ctx.step("read backup image %d" % image_id):
        image_xml = ctx.one.document("image", image_id)
        image = Image.from_xml(parse_xml(image_xml, what="image %d" % image_id, root="IMAGE"))
    with ctx.step("read datastore %d" % image.datastore_id):
        ds_xml = ctx.one.document("datastore", image.datastore_id, decrypt=True)
        datastore = Datastore.from_xml(parse_xml(ds_xml, what="datastore %d" % image.datastore_id, root="DATASTORE"))
    return BackupImage(vm, image, datastore, (ds_xml, vm_xml, image_xml))


def backup_urls(ctx: Context, source: BackupImage, increment_id: int,
                others: Optional[Dict[str, str]] = None) -> Dict[int, str]:
    """``{disk id: url}`` of the backup image (up to ``increment_id``; -1 = the last).

    With ``others``, the entries that are not disks (OpenNebula's ``tpm``) are put there.
    """
    image, datastore = source.image, source.datastore
    mad = str(datastore.ds_mad or "")
    if not _MAD.match(mad):
        raise BadInput("datastore %d of backup image %d has no usable DS_MAD (%r)" % (datastore.id, image.id, mad))
    script = os.path.join(remotes_directory(), "datastore", mad, "ls")
    if not os.access(script, os.X_OK):
        raise NotFound("the backup datastore driver %s has no ls at %s" % (mad, script))
    action = "<DS_DRIVER_ACTION_DATA>%s</DS_DRIVER_ACTION_DATA>" % "".join(source.documents)
    with ctx.step("list backup image %d with %s/ls" % (image.id, mad)):
        try:
            proc = subprocess.run([script, "-i", str(increment_id)], input=action.encode("utf-8"),
                                  capture_output=True, timeout=LIST_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError("%s: %s" % (script, exc)) from exc
        if proc.returncode != 0:
            raise BackendError("%s/ls failed: %s" % (mad, _first_error(proc.stderr, proc.returncode)))
        try:
            listed = json.loads(proc.stdout.decode("utf-8"))
        except ValueError as exc:
            raise BackendError("%s/ls printed no JSON object: %.80r" % (mad, proc.stdout)) from exc
        if not isinstance(listed, dict):
            raise BackendError("%s/ls printed %s, not a JSON object" % (mad, type(listed).__name__))
    urls: Dict[int, str] = {}
    for key, url in listed.items():
        if not str(key).isdigit() and (others is None or key != "tpm"):
            ctx.log.info("backup image %d: %r is not a disk, not restored here", image.id, key)
            continue
        if not isinstance(url, str) or not _URL.match(url):
            raise BackendError("%s/ls gave disk %s an unusable location %.80r" % (mad, key, url))
        if others is not None and key == "tpm":
            others[key] = url
        else:
            urls[int(key)] = url
    return urls


def download(ctx: Context, url: str, host: str, path: str, timeout: float) -> None:
    """Stream ``url`` (through downloader.sh on this machine) into ``path`` on ``host``."""
    script = os.path.join(remotes_directory(), "datastore", "downloader.sh")
    if not os.access(script, os.X_OK):
        raise NotFound("OpenNebula's downloader is not at %s" % script)
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen([script, "--nodecomp", url, "-"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=errors)
        except OSError as exc:
            raise BackendError("%s: %s" % (script, exc)) from exc
        try:
            ctx.host(host).run(["sh", "-c", 'cat > "$1"', "sh", path], stdin=proc.stdout, timeout=timeout,
                               what="receive %s" % path)
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            try:
                returncode = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                returncode = proc.wait()
        if returncode != 0:
            errors.seek(0)
            raise BackendError("downloader.sh failed: %s" % _first_error(errors.read(), returncode))

"""The stand-in's state: one XML file per object, ``<state>/<kind>/<id>.xml``.

Files are read on every call, so a test or a person may drop or edit
documents while the server runs; writes go through a temporary file and a
rename so a reader never sees half a document.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import List, Optional, Union

from lxml import etree

from ...one.xmlsafe import parse_xml
from ...runtime.errors import BadInput

#: kind (directory name) -> root element of its documents.
KINDS = {"vm": "VM", "image": "IMAGE", "datastore": "DATASTORE", "host": "HOST", "hook": "HOOK"}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError("unknown document kind %r (expected one of %s)" % (kind, ", ".join(sorted(KINDS))))
    return kind


class DocumentStore:
    """Documents on disk, keyed by kind and id."""

    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root)
        self.lock = threading.RLock()
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, obj_id: int) -> Path:
        return self.root / check_kind(kind) / ("%d.xml" % obj_id)

    def ids(self, kind: str) -> List[int]:
        found = []
        for entry in (self.root / check_kind(kind)).iterdir():
            stem, dot, ext = entry.name.partition(".")
            if dot and ext == "xml" and stem.isdigit():
                found.append(int(stem))
        return sorted(found)

    def read(self, kind: str, obj_id: int) -> Optional[bytes]:
        try:
            return self.path(kind, obj_id).read_bytes()
        except FileNotFoundError:
            return None

    def element(self, kind: str, obj_id: int) -> Optional[etree._Element]:
        raw = self.read(kind, obj_id)
        if raw is None:
            return None
        return parse_xml(raw, what="%s/%d.xml" % (kind, obj_id), root=KINDS[kind])

    def put(self, kind: str, xml_text: Union[str, bytes]) -> int:
        """Store a document (replacing one with the same id); returns its id."""
        element = parse_xml(xml_text, what="%s document" % kind, root=KINDS[check_kind(kind)])
        id_text = (element.findtext("ID") or "").strip()
        if not id_text.isdigit():
            raise BadInput("%s document has no numeric ID" % kind)
        self.write(kind, int(id_text), element)
        return int(id_text)

    def write(self, kind: str, obj_id: int, element: etree._Element) -> None:
        data = etree.tostring(element, encoding="utf-8")
        target = self.path(kind, obj_id)
        with self.lock:
            fd, tmp = tempfile.mkstemp(prefix=".%d." % obj_id, suffix=".tmp", dir=str(target.parent))
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    def delete(self, kind: str, obj_id: int) -> bool:
        try:
            self.path(kind, obj_id).unlink()
            return True
        except FileNotFoundError:
            return False

"""SQLite persistence of the emulator state (``<data>/state.sqlite``).

The in-memory model is the truth while the emulator runs; every mutating call ends by
writing the records it touched in one transaction (write-through), so a restart on the
same data directory finds every object, attachment, template and counter as it was.
WAL mode with ``synchronous=NORMAL``: a committed call survives a killed process.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (gid TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pgs (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attachments (
    gid TEXT NOT NULL, client INTEGER NOT NULL, rights TEXT NOT NULL,
    pos INTEGER NOT NULL, open INTEGER NOT NULL, PRIMARY KEY (gid, client));
"""

_dumps = json.JSONEncoder(separators=(",", ":")).encode


class Batch:
    """The writes of one call, collected by the state and flushed by :meth:`Store.write`."""

    def __init__(self) -> None:
        self.objects: Dict[str, Optional[Dict[str, Any]]] = {}
        self.templates: Dict[str, Optional[Dict[str, Any]]] = {}
        self.pgs: Dict[str, Optional[Dict[str, Any]]] = {}
        self.attachments: Dict[str, List[Tuple[int, str, int, bool]]] = {}
        self.meta: Dict[str, Any] = {}

    def __bool__(self) -> bool:
        return bool(self.objects or self.templates or self.pgs or self.attachments or self.meta)


class Store:
    """One SQLite connection, used only under the state's lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def meta(self) -> Dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def objects(self) -> Iterator[Dict[str, Any]]:
        for (doc,) in self._db.execute("SELECT doc FROM objects ORDER BY rowid"):
            yield json.loads(doc)

    def templates(self) -> Iterator[Dict[str, Any]]:
        for (doc,) in self._db.execute("SELECT doc FROM templates ORDER BY rowid"):
            yield json.loads(doc)

    def pgs(self) -> Iterator[Dict[str, Any]]:
        for (doc,) in self._db.execute("SELECT doc FROM pgs ORDER BY rowid"):
            yield json.loads(doc)

    def attachments(self) -> Iterable[Tuple[str, int, str, int, int]]:
        return self._db.execute("SELECT gid, client, rights, pos, open FROM attachments ORDER BY rowid").fetchall()

    def write(self, batch: Batch) -> None:
        """Apply one call's writes atomically."""
        db = self._db
        db.execute("BEGIN")
        try:
            _upsert(db, "objects", "gid", batch.objects)
            _upsert(db, "templates", "name", batch.templates)
            _upsert(db, "pgs", "name", batch.pgs)
            if batch.attachments:
                db.executemany("DELETE FROM attachments WHERE gid = ?", [(g,) for g in batch.attachments])
                db.executemany(
                    "INSERT INTO attachments (gid, client, rights, pos, open) VALUES (?, ?, ?, ?, ?)",
                    [(g, c, r, p, int(o)) for g, rows in batch.attachments.items() for c, r, p, o in rows],
                )
            if batch.meta:
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [(k, _dumps(v)) for k, v in batch.meta.items()],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def wipe(self) -> None:
        self._db.executescript(
            "BEGIN; DELETE FROM meta; DELETE FROM objects; DELETE FROM templates;"
            " DELETE FROM pgs; DELETE FROM attachments; COMMIT;"
        )


def _upsert(db: sqlite3.Connection, table: str, key: str, rows: Dict[str, Optional[Dict[str, Any]]]) -> None:
    gone = [(k,) for k, doc in rows.items() if doc is None]
    present = [(k, _dumps(doc)) for k, doc in rows.items() if doc is not None]
    if gone:
        db.executemany("DELETE FROM %s WHERE %s = ?" % (table, key), gone)
    if present:
        # an upsert keeps the rowid, so listings keep their creation order across restarts
        db.executemany(
            "INSERT INTO %s (%s, doc) VALUES (?, ?) ON CONFLICT(%s) DO UPDATE SET doc = excluded.doc"
            % (table, key, key),
            present,
        )

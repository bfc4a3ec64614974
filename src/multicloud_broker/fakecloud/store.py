"""SQLite state of the simulated cloud: regions, tokens and resources.

Resources are stored as JSON documents in one table keyed by (region, kind,
id); the handlers own their shape.  Under eventlet every call here runs without
yielding to another green thread (sqlite3 is not patched), so a handler that has
read its request body sees and changes the state atomically.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS regions (
    region TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    region_id TEXT NOT NULL,
    registered INTEGER NOT NULL DEFAULT 0,
    info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    project_id TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (region, kind, id)
);
CREATE INDEX IF NOT EXISTS resources_by_name ON resources (region, kind, name);
"""

Doc = dict[str, Any]


def new_id() -> str:
    return str(uuid.uuid4())


class Store:
    """All persistent state, one SQLite file shared by every region."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Autocommit mode; `transaction()` groups writes that belong together.
        self._db = sqlite3.connect(path, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._db.in_transaction:  # nested: the outer one commits
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- regions -----------------------------------------------------------
    def get_region(self, region: str) -> sqlite3.Row | None:
        return self._db.execute("SELECT * FROM regions WHERE region = ?",
                                (region,)).fetchone()

    def add_region(self, region: str, owner: str, region_id: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO regions (region, owner, region_id) VALUES (?, ?, ?)",
            (region, owner, region_id))

    def set_registered(self, region: str, registered: bool, info: Doc) -> None:
        self._db.execute("UPDATE regions SET registered = ?, info = ? WHERE region = ?",
                         (int(registered), json.dumps(info), region))

    # -- tokens ------------------------------------------------------------
    def add_token(self, region: str, project_id: str, lifetime: float) -> tuple[str, float]:
        token = uuid.uuid4().hex
        expires = time.time() + lifetime
        self._db.execute("DELETE FROM tokens WHERE expires < ?", (time.time(),))
        self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)",
                         (token, region, project_id, expires))
        return token, expires

    def get_token(self, token: str, region: str) -> sqlite3.Row | None:
        """The token if it is valid for this region now, else None."""
        return self._db.execute(
            "SELECT * FROM tokens WHERE token = ? AND region = ? AND expires > ?",
            (token, region, time.time())).fetchone()

    def drop_tokens(self, region: str) -> None:
        self._db.execute("DELETE FROM tokens WHERE region = ?", (region,))

    # -- resources ---------------------------------------------------------
    def insert(self, region: str, kind: str, tenant: str, doc: Doc) -> Doc:
        """Store a new resource; fills in `id` unless the doc has one."""
        doc.setdefault("id", new_id())
        self._db.execute(
            "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)",
            (region, kind, doc["id"], tenant, doc.get("name", ""), time.time(),
             json.dumps(doc)))
        return doc

    def update(self, region: str, kind: str, doc: Doc) -> None:
        self._db.execute(
            "UPDATE resources SET doc = ?, name = ? WHERE region = ? AND kind = ? AND id = ?",
            (json.dumps(doc), doc.get("name", ""), region, kind, doc["id"]))

    def get(self, region: str, kind: str, rid: str) -> Doc | None:
        row = self._db.execute(
            "SELECT doc FROM resources WHERE region = ? AND kind = ? AND id = ?",
            (region, kind, rid)).fetchone()
        return json.loads(row["doc"]) if row else None

    def find(self, region: str, kind: str, tenant: str | None = None,
             name: str | None = None) -> list[Doc]:
        """Resources of a kind in creation order, optionally filtered."""
        sql = "SELECT doc FROM resources WHERE region = ? AND kind = ?"
        args: list[Any] = [region, kind]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        if name is not None:
            sql += " AND name = ?"
            args.append(name)
        sql += " ORDER BY created, rowid"
        return [json.loads(r["doc"]) for r in self._db.execute(sql, args)]

    def delete(self, region: str, kind: str, rid: str) -> None:
        self._db.execute("DELETE FROM resources WHERE region = ? AND kind = ? AND id = ?",
                         (region, kind, rid))

"""The embedded inventory: cloud regions in a SQLite file."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from multicloud_broker.inventory import (ACCESS_COLUMNS, CloudRegion, InventoryConfigError,
                                         InventoryError, LogThrottle, RegionExists,
                                         RegionNotFound, access_from_row, access_row,
                                         usable_region)

__all__ = ["RegionExists", "SqliteInventory"]  # RegionExists: kept importable from here

LOG = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cloud_region (
    cloud_owner TEXT NOT NULL,
    cloud_region_id TEXT NOT NULL,
    cloud_type TEXT NOT NULL,
    cloud_region_version TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    access_auth_url TEXT,
    access_username TEXT,
    access_password TEXT,
    access_user_domain TEXT,
    access_project TEXT,
    access_ca_cert TEXT,
    access_insecure INTEGER,
    access_openstack_region TEXT,
    PRIMARY KEY (cloud_owner, cloud_region_id)
)
"""
# What the OpenStack plugin records under a region (inventory/children.py):
# one JSON document per key. Not a version of cloud_region's schema: a new
# table, created where missing.
_CHILD_SCHEMA = """
CREATE TABLE IF NOT EXISTS region_child (
    cloud_owner TEXT NOT NULL,
    cloud_region_id TEXT NOT NULL,
    child_key TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (cloud_owner, cloud_region_id, child_key)
)
"""
# Version 1: the four columns; 2: `extra`, the region's free-form attributes
# as JSON (the regions API keeps them as given); 3: the cloud's access
# (ACCESS_COLUMNS, NULL when none). Kept in PRAGMA user_version.
SCHEMA_VERSION = 3
_V1_COLUMNS = ("cloud_owner", "cloud_region_id", "cloud_type", "cloud_region_version")
# Added by later versions, in order: name and type (all nullable, or defaulted).
_ADDED = (("extra", "TEXT NOT NULL DEFAULT '{}'"),
          *((name, "INTEGER" if name == "access_insecure" else "TEXT")
            for name in ACCESS_COLUMNS))
_COLUMNS = ", ".join((*_V1_COLUMNS, *(name for name, _ in _ADDED)))
_MARKS = ", ".join("?" * (len(_V1_COLUMNS) + len(_ADDED)))


class SqliteInventory:
    """Regions in one SQLite file; the connection opens lazily, per process."""

    def __init__(self, path: str):
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._log = LogThrottle()  # one line a minute, not one per request

    def check(self) -> None:
        """Open (or create) the file and its schema now, on a connection of its own."""
        directory = os.path.dirname(os.path.abspath(self.path))
        where = f"[inventory] sqlite_path {self.path}"
        if os.path.isdir(self.path):
            raise InventoryConfigError(f"{where} is a directory")
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise InventoryConfigError(f"{where}: cannot create {directory}: "
                                       f"{exc.strerror}") from None
        # WAL keeps -wal and -shm files next to the database: the directory
        # must be writable, not only the file.
        if not os.access(directory, os.W_OK | os.X_OK):
            raise InventoryConfigError(f"{where}: directory {directory} is not writable")
        if os.path.exists(self.path) and not os.access(self.path, os.R_OK | os.W_OK):
            raise InventoryConfigError(f"{where}: file is not readable and writable")
        try:
            conn = _connect(self.path)
        except sqlite3.Error as exc:
            raise InventoryConfigError(f"{where}: {exc}") from None
        try:
            conn.execute(f"SELECT {_COLUMNS} FROM cloud_region LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise InventoryConfigError(f"{where}: unusable schema: {exc}") from None
        finally:
            conn.close()

    def _db(self) -> sqlite3.Connection:
        # A connection must not cross fork(): open one per worker process.
        if self._conn is None or self._pid != os.getpid():
            directory = os.path.dirname(os.path.abspath(self.path))
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise sqlite3.OperationalError(f"cannot create {directory}: "
                                               f"{exc.strerror}") from None
            self._conn, self._pid = _connect(self.path), os.getpid()
        return self._conn

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on this process's connection; a database fault is a 503."""
        try:
            return work(self._db())
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            if self._log.allow("unusable"):
                LOG.error("inventory %s unusable: %s (answering 503)", self.path, exc)
            self._drop()  # reopen next time: the file may have been fixed
            raise InventoryError(f"inventory unavailable: {exc}") from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        row = self._run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM cloud_region"
            " WHERE cloud_owner = ? AND cloud_region_id = ?", (owner, region)).fetchone())
        if row is None:
            raise RegionNotFound(owner, region)
        return usable_region(*row[:4], extra=_extra(row[4]), access=access_from_row(row[5:]))

    def list(self) -> list[CloudRegion]:
        rows = self._run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM cloud_region"
            " ORDER BY cloud_owner, cloud_region_id").fetchall())
        return [CloudRegion(*row[:4], extra=_extra(row[4]), access=access_from_row(row[5:]))
                for row in rows]

    def add(self, region: CloudRegion) -> None:
        try:
            self._run(lambda db: db.execute(f"INSERT INTO cloud_region ({_COLUMNS})"
                                            f" VALUES ({_MARKS})", _values(region)))
        except sqlite3.IntegrityError:
            raise RegionExists(f"cloud region {region.cloud_owner}/"
                               f"{region.cloud_region_id} already exists") from None

    def remove(self, owner: str, region: str) -> None:
        def delete(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")  # the region and what is recorded under it
            try:
                count = db.execute("DELETE FROM cloud_region WHERE cloud_owner = ?"
                                   " AND cloud_region_id = ?", (owner, region)).rowcount
                db.execute("DELETE FROM region_child WHERE cloud_owner = ?"
                           " AND cloud_region_id = ?", (owner, region))
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            return count
        if self._run(delete) == 0:
            raise RegionNotFound(owner, region)

    def children(self, owner: str, region: str) -> dict[str, dict]:
        """The documents recorded under the region, by key (children.py)."""
        rows = self._run(lambda db: db.execute(
            "SELECT child_key, doc FROM region_child WHERE cloud_owner = ?"
            " AND cloud_region_id = ?", (owner, region)).fetchall())
        return {k: _extra(doc) for k, doc in rows}

    def change_children(self, owner: str, region: str,
                        change: Callable[[dict[str, dict]],
                                         tuple[dict[str, dict], list[str]]]) -> int:
        """`change(current)` gives (documents to write, keys to delete), applied
        in the same transaction as the read; the number of keys deleted."""
        def apply(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                current = {k: _extra(doc) for k, doc in db.execute(
                    "SELECT child_key, doc FROM region_child WHERE cloud_owner = ?"
                    " AND cloud_region_id = ?", (owner, region))}
                written, deleted = change(current)
                db.executemany("DELETE FROM region_child WHERE cloud_owner = ?"
                               " AND cloud_region_id = ? AND child_key = ?",
                               [(owner, region, k) for k in deleted])
                db.executemany("INSERT OR REPLACE INTO region_child VALUES (?, ?, ?, ?)",
                               [(owner, region, k, json.dumps(doc))
                                for k, doc in written.items()])
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            return len(deleted)
        return self._run(apply)

    def put(self, region: CloudRegion) -> bool:
        """Create or replace `region`, extra attributes included; True if created."""
        def upsert(db: sqlite3.Connection) -> bool:
            db.execute("BEGIN IMMEDIATE")  # the look and the write as one
            try:
                found = db.execute(
                    "SELECT 1 FROM cloud_region WHERE cloud_owner = ? AND cloud_region_id = ?",
                    (region.cloud_owner, region.cloud_region_id)).fetchone()
                db.execute(f"INSERT OR REPLACE INTO cloud_region ({_COLUMNS})"
                           f" VALUES ({_MARKS})", _values(region))
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            return found is None
        return self._run(upsert)


def _values(region: CloudRegion) -> tuple:
    return (region.cloud_owner, region.cloud_region_id, region.cloud_type,
            region.cloud_region_version, json.dumps(region.extra or {}),
            *access_row(region.access))


def _extra(text: object) -> dict:
    # Written by this class as a JSON object; anything else (a hand edit) is no extra.
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _rollback(db: sqlite3.Connection) -> None:
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # no transaction left to undo


def _upgrade(conn: sqlite3.Connection, path: str) -> None:
    """Bring a file of an older schema version to SCHEMA_VERSION, in place:
    ALTER TABLE ADD COLUMN for each column it lacks (additive only; its rows
    are kept, their new columns NULL: no access recorded).

    A table that is not ours (other columns) is left alone, for check() to refuse.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")  # workers starting together: one upgrades
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(cloud_region)")}
        if set(_V1_COLUMNS) <= columns:
            missing = [(name, kind) for name, kind in _ADDED if name not in columns]
            for name, kind in missing:
                conn.execute(f"ALTER TABLE cloud_region ADD COLUMN {name} {kind}")
            if missing:
                LOG.info("inventory %s upgraded to schema version %d", path, SCHEMA_VERSION)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        conn.execute(_CHILD_SCHEMA)
        _upgrade(conn, path)
    except sqlite3.Error:
        conn.close()
        raise
    return conn

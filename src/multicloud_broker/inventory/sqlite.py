"""The embedded inventory: cloud regions in a SQLite file."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from multicloud_broker.inventory import (CloudRegion, InventoryConfigError, InventoryError,
                                         LogThrottle, RegionExists, RegionNotFound,
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
    PRIMARY KEY (cloud_owner, cloud_region_id)
)
"""
_COLUMNS = "cloud_owner, cloud_region_id, cloud_type, cloud_region_version"


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
        return usable_region(*row)

    def list(self) -> list[CloudRegion]:
        rows = self._run(lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM cloud_region"
            " ORDER BY cloud_owner, cloud_region_id").fetchall())
        return [CloudRegion(*row) for row in rows]

    def add(self, region: CloudRegion) -> None:
        try:
            self._run(lambda db: db.execute("INSERT INTO cloud_region VALUES (?, ?, ?, ?)", (
                region.cloud_owner, region.cloud_region_id,
                region.cloud_type, region.cloud_region_version)))
        except sqlite3.IntegrityError:
            raise RegionExists(f"cloud region {region.cloud_owner}/"
                               f"{region.cloud_region_id} already exists") from None

    def remove(self, owner: str, region: str) -> None:
        cursor = self._run(lambda db: db.execute(
            "DELETE FROM cloud_region WHERE cloud_owner = ? AND cloud_region_id = ?",
            (owner, region)))
        if cursor.rowcount == 0:
            raise RegionNotFound(owner, region)


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
    except sqlite3.Error:
        conn.close()
        raise
    return conn

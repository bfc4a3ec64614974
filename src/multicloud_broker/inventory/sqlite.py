"""The embedded inventory: cloud regions in a SQLite file."""

from __future__ import annotations

import os
import sqlite3

from multicloud_broker.inventory import CloudRegion, RegionNotFound

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cloud_region (
    cloud_owner TEXT NOT NULL,
    cloud_region_id TEXT NOT NULL,
    cloud_type TEXT NOT NULL,
    cloud_region_version TEXT NOT NULL,
    PRIMARY KEY (cloud_owner, cloud_region_id)
)
"""


class RegionExists(Exception):
    """Adding a region that is already there."""


class SqliteInventory:
    """Regions in one SQLite file; the connection opens lazily, per process."""

    def __init__(self, path: str):
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _db(self) -> sqlite3.Connection:
        # A connection must not cross fork(): open one per worker process.
        if self._conn is None or self._pid != os.getpid():
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        row = self._db().execute(
            "SELECT cloud_owner, cloud_region_id, cloud_type, cloud_region_version"
            " FROM cloud_region WHERE cloud_owner = ? AND cloud_region_id = ?",
            (owner, region)).fetchone()
        if row is None:
            raise RegionNotFound(owner, region)
        return CloudRegion(*row)

    def list(self) -> list[CloudRegion]:
        rows = self._db().execute(
            "SELECT cloud_owner, cloud_region_id, cloud_type, cloud_region_version"
            " FROM cloud_region ORDER BY cloud_owner, cloud_region_id").fetchall()
        return [CloudRegion(*row) for row in rows]

    def add(self, region: CloudRegion) -> None:
        try:
            self._db().execute("INSERT INTO cloud_region VALUES (?, ?, ?, ?)", (
                region.cloud_owner, region.cloud_region_id,
                region.cloud_type, region.cloud_region_version))
        except sqlite3.IntegrityError:
            raise RegionExists(f"cloud region {region.cloud_owner}/"
                               f"{region.cloud_region_id} already exists") from None

    def remove(self, owner: str, region: str) -> None:
        cursor = self._db().execute(
            "DELETE FROM cloud_region WHERE cloud_owner = ? AND cloud_region_id = ?",
            (owner, region))
        if cursor.rowcount == 0:
            raise RegionNotFound(owner, region)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

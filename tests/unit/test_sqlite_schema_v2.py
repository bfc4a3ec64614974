"""The sqlite inventory's schema version 2 (`extra`, for the regions API):
files of version 1 are upgraded in place, keeping their regions; tables that
are not the broker's are left alone."""

from __future__ import annotations

import sqlite3

import pytest

from multicloud_broker.inventory import CloudRegion, InventoryConfigError
from multicloud_broker.inventory.sqlite import SCHEMA_VERSION, SqliteInventory


def _version_1_file(path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE cloud_region (cloud_owner TEXT NOT NULL,"
                     " cloud_region_id TEXT NOT NULL, cloud_type TEXT NOT NULL,"
                     " cloud_region_version TEXT NOT NULL,"
                     " PRIMARY KEY (cloud_owner, cloud_region_id))")
        conn.execute("INSERT INTO cloud_region VALUES ('o', 'r', 'openstack', 'ocata')")
    conn.close()


def _columns(path) -> tuple[int, list[str]]:
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return version, [row[1] for row in conn.execute("PRAGMA table_info(cloud_region)")]
    finally:
        conn.close()


def test_a_version_1_file_is_upgraded_keeping_its_regions(tmp_path):
    path = tmp_path / "inventory.sqlite"
    _version_1_file(path)
    SqliteInventory(str(path)).check()
    version, columns = _columns(path)
    assert version == SCHEMA_VERSION == 3 and columns[4] == "extra"
    inventory = SqliteInventory(str(path))
    region = inventory.get("o", "r")
    assert (region.cloud_type, region.cloud_region_version, region.extra) == \
        ("openstack", "ocata", {})
    SqliteInventory(str(path)).check()  # once upgraded, nothing more to do
    assert _columns(path) == (SCHEMA_VERSION, columns)


def test_put_creates_then_replaces_with_extra_kept_as_given(tmp_path):
    inventory = SqliteInventory(str(tmp_path / "inventory.sqlite"))
    extra = {"complex-name": "paris", "nested": {"list": [1, None, True, "x"]}}
    assert inventory.put(CloudRegion("o", "r", "openstack", "ocata", extra=extra)) is True
    assert inventory.get("o", "r").extra == extra
    assert inventory.put(CloudRegion("o", "r", "openstack", "pike")) is False
    replaced = inventory.get("o", "r")
    assert (replaced.cloud_region_version, replaced.extra) == ("pike", {})
    assert [r.cloud_region_id for r in inventory.list()] == ["r"]


def test_a_table_that_is_not_ours_is_not_altered(tmp_path):
    path = tmp_path / "inventory.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE cloud_region (name TEXT)")
    conn.close()
    with pytest.raises(InventoryConfigError, match="unusable schema"):
        SqliteInventory(str(path)).check()
    assert _columns(path) == (0, ["name"])

import pytest

from multicloud_broker.inventory import CloudRegion, RegionNotFound
from multicloud_broker.inventory.sqlite import RegionExists, SqliteInventory


def test_sqlite_inventory_round_trip(tmp_path):
    path = str(tmp_path / "sub" / "inv.sqlite")
    inventory = SqliteInventory(path)
    region = CloudRegion("owner", "RegionOne", "openstack", "ocata")
    inventory.add(region)
    with pytest.raises(RegionExists):
        inventory.add(region)
    assert SqliteInventory(path).get("owner", "RegionOne") == region  # persisted
    assert inventory.list() == [region]
    inventory.remove("owner", "RegionOne")
    with pytest.raises(RegionNotFound):
        inventory.get("owner", "RegionOne")
    with pytest.raises(RegionNotFound):
        inventory.remove("owner", "RegionOne")

# The cache's tests: test_inventory_cache.py (clock-driven, event-synchronised).

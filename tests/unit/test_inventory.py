import pytest

from multicloud_broker.inventory import CloudRegion, RegionNotFound
from multicloud_broker.inventory.cache import CachedInventory
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


class CountingInventory:
    """A real in-memory inventory that counts lookups."""

    def __init__(self):
        self.calls = 0
        self.regions = {("o", "r"): CloudRegion("o", "r", "openstack", "pike")}

    def get(self, owner, region, transaction_id=""):
        self.calls += 1
        if (owner, region) not in self.regions:
            raise RegionNotFound(owner, region)
        return self.regions[(owner, region)]


def test_cache_serves_hits_and_retries_misses():
    inner = CountingInventory()
    cached = CachedInventory(inner, ttl=60)
    assert cached.get("o", "r") == cached.get("o", "r")
    assert inner.calls == 1
    for _ in range(2):
        with pytest.raises(RegionNotFound):
            cached.get("o", "missing")
    assert inner.calls == 3  # misses are not cached


def test_zero_ttl_cache_always_asks():
    inner = CountingInventory()
    cached = CachedInventory(inner, ttl=0)
    cached.get("o", "r")
    cached.get("o", "r")
    assert inner.calls == 2

import threading
import time

import pytest

from multicloud_broker.core.errors import ServiceUnavailable
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


class SlowInventory(CountingInventory):
    """Each lookup waits until the test lets it finish, or fails if told to."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self.fail_with: Exception | None = None

    def get(self, owner, region, transaction_id=""):
        self.calls += 1
        assert self.release.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        return self.regions[(owner, region)]


def _in_threads(count, call):
    """Start `count` threads running `call`; returns (threads, outcomes)."""
    outcomes = []

    def run():
        try:
            outcomes.append(call())
        except Exception as exc:  # the outcome under test
            outcomes.append(exc)
    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, outcomes


def _finish(threads):
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def test_concurrent_misses_share_one_lookup():
    inner = SlowInventory()
    cached = CachedInventory(inner, ttl=60)
    threads, outcomes = _in_threads(20, lambda: cached.get("o", "r"))
    time.sleep(0.2)  # every thread has asked by now
    inner.release.set()
    _finish(threads)
    assert outcomes == [inner.regions[("o", "r")]] * 20
    assert inner.calls == 1


def test_expired_entry_is_served_while_one_refresh_runs():
    inner = SlowInventory()
    inner.release.set()
    cached = CachedInventory(inner, ttl=0.05)
    old = cached.get("o", "r")
    time.sleep(0.1)
    inner.release.clear()  # the refresh will hang until the test lets it go
    inner.regions = {("o", "r"): CloudRegion("o", "r", "openstack", "queens")}
    threads, outcomes = _in_threads(1, lambda: cached.get("o", "r"))  # the refresh
    time.sleep(0.1)
    assert cached.get("o", "r") == old  # answered at once, from the expired entry
    assert inner.calls == 2
    inner.release.set()
    _finish(threads)
    assert outcomes[0].cloud_region_version == "queens"
    assert cached.get("o", "r").cloud_region_version == "queens"


def test_a_failed_lookup_fails_every_waiter_and_is_retried():
    inner = SlowInventory()
    inner.fail_with = ServiceUnavailable("inventory (A&AI) unreachable")
    cached = CachedInventory(inner, ttl=60)
    threads, outcomes = _in_threads(5, lambda: cached.get("o", "r"))
    time.sleep(0.2)
    inner.release.set()
    _finish(threads)
    assert len(outcomes) == 5 and all(isinstance(o, ServiceUnavailable) for o in outcomes)
    assert inner.calls == 1
    inner.fail_with = None
    assert cached.get("o", "r") == inner.regions[("o", "r")]  # not remembered as failed

"""The per-worker region cache: TTL, single flight, outages ridden out, unknowns
remembered. Time is a clock the test moves; concurrency waits on events."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from multicloud_broker.inventory import (CloudRegion, IncompleteRegion, InventoryRefused,
                                         InventoryUnreachable, RegionNotFound)
from multicloud_broker.inventory.cache import CachedInventory

PIKE = CloudRegion("o", "r", "openstack", "pike")
QUEENS = CloudRegion("o", "r", "openstack", "queens")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Inventory:
    """A real in-memory inventory that counts lookups and can be made to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.regions = {("o", "r"): PIKE}
        self.fail_with: Exception | None = None

    def check(self) -> None:
        pass

    def get(self, owner, region, transaction_id=""):
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        if (owner, region) not in self.regions:
            raise RegionNotFound(owner, region)
        return self.regions[(owner, region)]


class SlowInventory(Inventory):
    """Each lookup announces itself, then waits until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def get(self, owner, region, transaction_id=""):
        self.calls += 1
        self.started.set()
        assert self.release.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        return self.regions[(owner, region)]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cache(inner, clock, ttl=30.0, stale_ttl=600.0, negative_ttl=5.0) -> CachedInventory:
    return CachedInventory(inner, ttl, stale_ttl, negative_ttl, clock=clock)


def test_hits_within_ttl_then_one_refresh(clock):
    inner = Inventory()
    cached = cache(inner, clock)
    assert cached.get("o", "r") == cached.get("o", "r") == PIKE
    assert inner.calls == 1
    clock.advance(31)
    inner.regions[("o", "r")] = QUEENS
    assert cached.get("o", "r").cloud_region_version == "queens"
    assert inner.calls == 2


def test_unknown_regions_are_remembered_for_negative_ttl(clock):
    inner = Inventory()
    cached = cache(inner, clock, negative_ttl=5)
    for _ in range(50):
        with pytest.raises(RegionNotFound):
            cached.get("o", "missing")
    assert inner.calls == 1
    inner.regions[("o", "missing")] = PIKE
    clock.advance(5.1)
    assert cached.get("o", "missing") == PIKE  # asked again once the period passed
    assert inner.calls == 2


def test_negative_ttl_zero_asks_every_time(clock):
    inner = Inventory()
    cached = cache(inner, clock, negative_ttl=0)
    for _ in range(3):
        with pytest.raises(RegionNotFound):
            cached.get("o", "missing")
    assert inner.calls == 3


def test_a_region_gone_from_the_inventory_is_not_served_from_the_cache(clock):
    inner = Inventory()
    cached = cache(inner, clock)
    cached.get("o", "r")
    del inner.regions[("o", "r")]
    clock.advance(31)
    with pytest.raises(RegionNotFound):
        cached.get("o", "r")


def test_an_unusable_record_is_a_404_remembered_like_an_unknown_region(clock):
    inner = Inventory()
    inner.fail_with = IncompleteRegion("o", "r", "cloud-type")
    cached = cache(inner, clock)
    for _ in range(3):
        with pytest.raises(IncompleteRegion, match="cloud-type") as caught:
            cached.get("o", "r")
        assert caught.value.status == 404
    assert inner.calls == 1


def test_outage_serves_seen_regions_until_stale_ttl_and_503s_unseen_ones(clock, caplog):
    inner = Inventory()
    cached = cache(inner, clock, ttl=1, stale_ttl=600)
    assert cached.get("o", "r") == PIKE
    inner.fail_with = InventoryUnreachable("inventory (A&AI) unreachable: NewConnectionError")
    with caplog.at_level(logging.WARNING, logger="multicloud_broker.inventory.cache"):
        for _ in range(100):  # 100 s of requests, ten a second
            clock.advance(0.1 * 10)
            for _ in range(10):
                assert cached.get("o", "r") == PIKE
        with pytest.raises(InventoryUnreachable, match="not seen recently") as caught:
            cached.get("o", "never-seen")
    assert caught.value.status == 503
    assert inner.calls == 1 + 100 + 1  # one refresh per ttl, not one per request
    stale_lines = [r for r in caplog.records if "serving cloud region o/r" in r.getMessage()]
    assert len(stale_lines) == 2  # once per 60 s log interval: at 1 s and at 61 s
    clock.advance(600)
    with pytest.raises(InventoryUnreachable):  # seen too long ago now
        cached.get("o", "r")


def test_back_from_an_outage_the_region_is_refreshed(clock):
    inner = Inventory()
    cached = cache(inner, clock, ttl=1)
    cached.get("o", "r")
    inner.fail_with = InventoryUnreachable("inventory (A&AI) answered 500")
    clock.advance(2)
    assert cached.get("o", "r") == PIKE
    inner.fail_with = None
    inner.regions[("o", "r")] = QUEENS
    clock.advance(2)
    assert cached.get("o", "r") == QUEENS


def test_refused_credentials_are_not_ridden_out_and_logged_once(clock, caplog):
    inner = Inventory()
    cached = cache(inner, clock, ttl=1)
    cached.get("o", "r")
    inner.fail_with = InventoryRefused("inventory (A&AI) refused the broker's credentials (401)")
    clock.advance(2)
    with caplog.at_level(logging.ERROR, logger="multicloud_broker.inventory.cache"):
        for _ in range(5):
            with pytest.raises(InventoryRefused, match="credentials") as caught:
                cached.get("o", "r")
            assert caught.value.status == 503
    assert [r.getMessage() for r in caplog.records] == [
        "configuration error: inventory (A&AI) refused the broker's credentials (401)"]


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


def _until(predicate, timeout=10.0):
    """Wait for a state the threads reach (not a timing assumption: bounded poll)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "threads never got there"
        time.sleep(0.005)


def test_concurrent_misses_share_one_lookup(clock):
    inner = SlowInventory()
    cached = cache(inner, clock)
    threads, outcomes = _in_threads(20, lambda: cached.get("o", "r"))
    assert inner.started.wait(10)
    _until(lambda: cached.waiters("o", "r") == 19)  # every other thread waits on it
    inner.release.set()
    _finish(threads)
    assert outcomes == [PIKE] * 20
    assert inner.calls == 1


def test_expired_entry_is_served_while_one_refresh_runs(clock):
    inner = SlowInventory()
    inner.release.set()
    cached = cache(inner, clock, ttl=1)
    assert cached.get("o", "r") == PIKE
    clock.advance(2)
    inner.release.clear()  # the refresh will hang until the test lets it go
    inner.started.clear()
    inner.regions[("o", "r")] = QUEENS
    threads, outcomes = _in_threads(1, lambda: cached.get("o", "r"))  # the refresh
    assert inner.started.wait(10)
    assert cached.get("o", "r") == PIKE  # answered at once, from the expired entry
    assert inner.calls == 2
    inner.release.set()
    _finish(threads)
    assert outcomes == [QUEENS]
    assert cached.get("o", "r") == QUEENS


def test_a_failed_lookup_fails_every_waiter_and_is_retried(clock):
    inner = SlowInventory()
    inner.fail_with = InventoryUnreachable("inventory (A&AI) unreachable")
    cached = cache(inner, clock)
    threads, outcomes = _in_threads(5, lambda: cached.get("o", "r"))
    assert inner.started.wait(10)
    _until(lambda: cached.waiters("o", "r") == 4)
    inner.release.set()
    _finish(threads)
    assert len(outcomes) == 5 and all(isinstance(o, InventoryUnreachable) for o in outcomes)
    assert inner.calls == 1
    inner.fail_with = None
    assert cached.get("o", "r") == PIKE  # an outage is not remembered as unknown


def test_check_is_the_inner_inventorys():
    class Broken(Inventory):
        def check(self):
            from multicloud_broker.inventory import InventoryConfigError
            raise InventoryConfigError("[aai] host '' is not a host name or address")
    with pytest.raises(Exception, match="host"):
        CachedInventory(Broken(), 30).check()


class Killed(BaseException):
    """Like eventlet's GreenletExit: the green thread was killed, no inventory error."""


def test_a_lookup_interrupted_by_a_kill_keeps_the_entry(clock):
    inner = Inventory()
    cached = cache(inner, clock, ttl=1)
    cached.get("o", "r")
    clock.advance(2)
    inner.fail_with = Killed()
    with pytest.raises(Killed):
        cached.get("o", "r")
    inner.fail_with = InventoryUnreachable("inventory (A&AI) unreachable")
    assert cached.get("o", "r") == PIKE  # the entry survived the kill: ridden out


def test_waiters_of_a_killed_lookup_get_a_503_not_the_kill(clock):
    inner = SlowInventory()
    inner.fail_with = Killed()
    cached = cache(inner, clock)
    outcomes: list[BaseException] = []

    def run() -> None:
        try:
            cached.get("o", "r")
        except BaseException as exc:  # the outcome under test, Killed included
            outcomes.append(exc)
    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert inner.started.wait(10)
    _until(lambda: cached.waiters("o", "r") == 2)
    inner.release.set()
    _finish(threads)
    assert sorted(type(o).__name__ for o in outcomes) == [
        "InventoryUnreachable", "InventoryUnreachable", "Killed"]

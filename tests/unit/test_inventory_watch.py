"""inventory.watch: a shared inventory's state from the worker's lookups, told
in /healthz's detail, the inventory_up gauge and one log line per change;
the background probe that /readyz starts and never waits for."""

from __future__ import annotations

import logging
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from multicloud_broker import metrics
from multicloud_broker.core.health import PROBE_OWNER, PROBE_REGION
from multicloud_broker.inventory import (CloudRegion, IncompleteRegion, InventoryError,
                                         InventoryRefused, InventoryUnreachable,
                                         RegionNotFound)
from multicloud_broker.inventory.cache import CachedInventory
from multicloud_broker.inventory.watch import InventoryWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Backend:
    """Knows region o/r; `error` is raised instead when set; `gate` cleared
    holds every lookup (a hung inventory)."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.asked: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        self.asked.append((owner, region))
        self.gate.wait(10)
        if self.error is not None:
            raise self.error
        if (owner, region) != ("o", "r"):
            raise RegionNotFound(owner, region)
        return CloudRegion("o", "r", "openstack", "ocata")


@pytest.fixture
def backend() -> Backend:
    return Backend()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _watch(backend: Backend, clock: Clock, name: str = "aai",
           interval: float = 5.0) -> InventoryWatch:
    return InventoryWatch(backend, name, interval, clock=clock, wall=lambda: 1.8e9)


def _lookup(watch: InventoryWatch, owner: str = "o", region: str = "r") -> None:
    try:
        watch.get(owner, region)
    except Exception:
        pass


def _up(backend: str) -> float | None:
    text = metrics.exposition().decode()
    values = [s.value for family in text_string_to_metric_families(text)
              for s in family.samples
              if s.name == "multicloud_broker_inventory_up" and s.labels == {"backend": backend}]
    return values[0] if values else None


def test_the_state_follows_the_lookups(backend, clock):
    watch = _watch(backend, clock)
    assert watch.report() == {"backend": "aai", "state": "unknown"}
    _lookup(watch)
    assert watch.report()["state"] == "up"
    for error, state in ((InventoryUnreachable("inventory (A&AI) answered 500"), "unreachable"),
                         (InventoryRefused("inventory (A&AI) refused the broker's "
                                           "credentials (401)"), "refused"),
                         (InventoryError("inventory (PostgreSQL) failed: x"), "failing")):
        backend.error = error
        clock.now += 2
        with pytest.raises(type(error)):  # the lookup's own error goes on unchanged
            watch.get("o", "r")
        assert watch.report() == {"backend": "aai", "state": state, "error": error.message,
                                  "since": "2027-01-15T08:00:00Z", "checked_seconds_ago": 0.0}
    clock.now += 1.5
    assert watch.report()["checked_seconds_ago"] == 1.5


@pytest.mark.parametrize("answer", [RegionNotFound("o", "x"),
                                    IncompleteRegion("o", "r", "cloud-type")])
def test_not_found_is_an_answer(backend, clock, answer):
    watch = _watch(backend, clock)
    backend.error = InventoryUnreachable("down")
    _lookup(watch)
    backend.error = answer
    _lookup(watch)
    assert watch.report()["state"] == "up"


def test_a_change_is_logged_once_not_per_lookup(backend, clock, caplog):
    watch = _watch(backend, clock)
    with caplog.at_level(logging.INFO, logger="multicloud_broker.inventory.watch"):
        for _ in range(3):
            _lookup(watch)
        backend.error = InventoryUnreachable("inventory (A&AI) unreachable: "
                                             "NewConnectionError")
        for _ in range(20):
            clock.now += 1
            _lookup(watch)
        backend.error = None
        for _ in range(3):
            _lookup(watch)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["INFO", "WARNING", "WARNING"], lines
    assert lines[0][1] == "inventory (A&AI) answers"
    assert lines[1][1].startswith("inventory (A&AI) is unreachable (was up): inventory "
                                  "(A&AI) unreachable: NewConnectionError; ")
    assert "/readyz is not affected" in lines[1][1]
    assert lines[2][1] == "inventory (A&AI) answers again, after 19 s unreachable"


def test_the_newest_question_wins_not_the_latest_answer(backend, clock):
    watch = _watch(backend, clock)
    _lookup(watch)
    clock.now += 1
    slow_started = clock()  # a lookup that A&AI answers late
    clock.now += 1
    backend.error = InventoryUnreachable("inventory (A&AI) unreachable: refused")
    _lookup(watch)  # begun after it, failed first: the outage
    clock.now += 1
    watch.observe(None, slow_started)
    assert watch.report()["state"] == "unreachable"
    watch.observe(None, clock())  # asked after the failed lookup: news
    assert watch.report()["state"] == "up"


def test_the_gauge_follows_the_latest_lookup(backend, clock):
    watch = _watch(backend, clock, name="postgresql")
    _lookup(watch)
    assert _up("postgresql") == 1
    backend.error = InventoryUnreachable("inventory (PostgreSQL) unreachable: timed out")
    _lookup(watch)
    assert _up("postgresql") == 0
    backend.error = None
    _lookup(watch, "o", "unknown")
    assert _up("postgresql") == 1


def test_refresh_probes_in_the_background_only_when_nothing_was_heard(backend, clock):
    watch = _watch(backend, clock)
    _lookup(watch)
    watch.refresh()  # a lookup was just heard: nothing to do
    assert backend.asked == [("o", "r")]
    clock.now += 5
    backend.gate.clear()  # the inventory hangs: the probe never returns
    watch.refresh()
    _wait(lambda: (PROBE_OWNER, PROBE_REGION) in backend.asked)
    for _ in range(5):  # returned at once, and one probe at a time
        watch.refresh()
    assert backend.asked.count((PROBE_OWNER, PROBE_REGION)) == 1
    assert watch.report()["state"] == "up"  # nothing heard yet from the hung probe
    backend.error = InventoryUnreachable("inventory (A&AI) unreachable: ReadTimeoutError")
    backend.gate.set()
    _wait(lambda: watch.report()["state"] == "unreachable")
    clock.now += 5
    backend.error = None
    # The next due refresh (once the first probe is over) hears the answer.
    _wait(lambda: (watch.refresh(), watch.report()["state"] == "up")[1])
    assert backend.asked.count((PROBE_OWNER, PROBE_REGION)) == 2


def test_inside_the_cache_only_the_backends_answers_count(backend, clock):
    watch = _watch(backend, clock)
    cached = CachedInventory(watch, ttl=10, stale_ttl=100, clock=clock)
    cached.get("o", "r")
    backend.error = InventoryUnreachable("inventory (A&AI) unreachable: refused")
    cached.get("o", "r")  # a hit: A&AI was not asked
    assert watch.report()["state"] == "up"
    clock.now += 11
    assert cached.get("o", "r").cloud_type == "openstack"  # served as last seen...
    assert watch.report()["state"] == "unreachable"  # ...and the outage is known


def test_the_backends_own_methods_pass_through(backend, clock):
    backend.check = lambda: "checked"
    assert _watch(backend, clock).check() == "checked"


def _wait(condition, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not met")


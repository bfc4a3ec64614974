"""core.health: the local inventory probe's caching and outcomes, the draining
flag, and readiness without a local inventory."""

from __future__ import annotations

import pytest

from multicloud_broker.core import health
from multicloud_broker.core.errors import BadGateway, NotFound, ServiceUnavailable
from multicloud_broker.core.health import Readiness, inventory_probe, readiness_report


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Probe:
    """Counts its calls; raises `error` when set."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


@pytest.fixture
def not_draining():
    health.set_draining(False)
    yield
    health.set_draining(False)


def test_probe_runs_at_most_once_per_interval():
    clock, probe = Clock(), Probe()
    readiness = Readiness(probe, interval=5.0, clock=clock)
    assert [readiness.inventory_problem() for _ in range(3)] == [None] * 3
    assert probe.calls == 1
    clock.now += 4.9
    readiness.inventory_problem()
    assert probe.calls == 1
    clock.now += 0.2
    readiness.inventory_problem()
    assert probe.calls == 2


def test_failure_is_reported_until_a_later_probe_succeeds():
    clock, probe = Clock(), Probe()
    readiness = Readiness(probe, interval=1.0, clock=clock)
    probe.error = ServiceUnavailable("inventory (A&AI) unreachable: NewConnectionError")
    assert readiness.inventory_problem() == "inventory (A&AI) unreachable: NewConnectionError"
    probe.error = None
    assert readiness.inventory_problem() is not None  # still within the interval
    clock.now += 1.0
    assert readiness.inventory_problem() is None


def test_unexpected_probe_error_means_not_ready_with_its_type():
    probe = Probe()
    probe.error = RuntimeError("driver exploded")
    assert Readiness(probe, 1.0).inventory_problem() == "inventory probe failed: RuntimeError"


def test_inventory_probe_takes_not_found_as_an_answer():
    asked = []

    def lookup(owner: str, region: str, txid: str):
        asked.append((owner, region))
        raise NotFound("no such region")

    inventory_probe(lookup)()
    assert asked == [(health.PROBE_OWNER, health.PROBE_REGION)]


@pytest.mark.parametrize("error", [ServiceUnavailable("down"), BadGateway("garbage")])
def test_inventory_probe_passes_other_errors_on(error):
    def lookup(owner: str, region: str, txid: str):
        raise error

    with pytest.raises(type(error)):
        inventory_probe(lookup)()


def test_report_names_every_failing_check(not_draining):
    probe = Probe()
    probe.error = ServiceUnavailable("inventory (A&AI) answered 500")
    health.set_draining(True)
    ready, body = readiness_report(False, Readiness(probe, 1.0))
    assert not ready
    assert body["checks"] == {"catalog": "plugin catalog not loaded",
                              "inventory": "inventory (A&AI) answered 500",
                              "server": "draining: shutting down, not taking new requests"}
    assert body["error"].startswith("not ready: catalog: ")
    assert "inventory: inventory (A&AI) answered 500" in body["error"]


def test_report_ready_and_draining_can_be_cleared(not_draining):
    readiness = Readiness(Probe(), 1.0)
    assert readiness_report(True, readiness) == (
        True, {"status": "ready", "checks": {"catalog": "ok", "inventory": "ok",
                                             "server": "ok"}})
    health.set_draining(True)
    assert readiness_report(True, readiness)[0] is False
    health.set_draining(False)
    assert readiness_report(True, readiness)[0] is True


def test_without_a_local_inventory_readiness_is_catalog_and_server_only(not_draining):
    """A shared inventory (A&AI, a fleet's PostgreSQL) is no readiness check."""
    assert readiness_report(True, None) == (
        True, {"status": "ready", "checks": {"catalog": "ok", "server": "ok"}})
    health.set_draining(True)
    ready, body = readiness_report(False, None)
    assert not ready and set(body["checks"]) == {"catalog", "server"}
    assert "inventory" not in body["error"]

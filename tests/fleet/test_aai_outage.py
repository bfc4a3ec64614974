"""A&AI down for the whole fleet, shown on this machine.

Two brokers (django and pecan, one worker each, so each has one region cache)
look regions up in one A&AI (a real HTTP server, tests/support/upstreams.py
AAIServer) behind a real haproxy that health-checks /readyz every 0.3 s and
takes a server out after two failed checks. While client connections send
requests through haproxy for a region both brokers have seen, A&AI stops
(its port refuses connections) for longer than haproxy needs to take a
server out, then comes back.

Then: haproxy never took a broker out (A&AI is shared: it does not decide
a replica's readiness); every call for the seen region succeeded, served as
last seen while A&AI was down, and reached the plugin exactly once; a region
never seen got the broker's own 503 naming A&AI, not haproxy's; each broker
told the outage in /healthz, in its `inventory_up` gauge and in one log
line each way; and once A&AI is back the unseen region is served too.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fleet.fleet import FRAMEWORKS, Fleet
from tests.fleet.load import FleetLoad
from tests.server.helpers import wait_until
from tests.support.broker import BrokerProcess
from tests.support.client import request
from tests.support.upstreams import AAIServer, PluginServer, free_port

OWNER = "fleet"
SEEN, UNSEEN = "Seen", "Unseen"
COUNTED = f"/api/multicloud/v0/{OWNER}_{SEEN}/counted/{{id}}"  # the plugin echoes each
SIDE = f"/api/multicloud/v0/{OWNER}_{SEEN}/side"
CHECKS_DURING_OUTAGE = 4  # twice haproxy's "fall 2": longer than it takes to mark DOWN
ANSWERS_PER_PHASE = 200  # calls through haproxy in each phase, at least
DOWN_LINE = "inventory (A&AI) is unreachable (was up)"
BACK_LINE = "inventory (A&AI) answers again"


def _path(region: str) -> str:
    return f"/api/multicloud/v0/{OWNER}_{region}/tenants"


def _config(aai: AAIServer, plugin: PluginServer) -> dict:
    return {
        "DEFAULT": {"graceful_shutdown_timeout": 5, "log_level": "WARNING"},
        # Entries expire each second: the seen region is asked for again
        # during the outage and served as last seen (stale_ttl).
        "inventory": {"backend": "aai", "cache_ttl": 1, "stale_ttl": 600,
                      "negative_ttl": 0, "probe_interval": 0.5},
        "aai": {"protocol": "http", "host": "127.0.0.1", "port": aai.port,
                "connect_timeout": 0.5, "read_timeout": 2},
        "plugins": {"endpoints": {"multicloud-ocata": plugin.url},
                    "connect_timeout": 2, "read_timeout": 10},
    }


@pytest.fixture(scope="module")
def aai() -> Iterator[AAIServer]:
    with AAIServer() as server:
        for region in (SEEN, UNSEEN):
            server.add_region(OWNER, region, "openstack", "ocata")
        yield server


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, aai: AAIServer, plugin: PluginServer,
          haproxy_binary: str) -> Iterator[Fleet]:
    workdir, config = tmp_path_factory.mktemp("fleet-aai"), _config(aai, plugin)
    fleet = Fleet(workdir, haproxy_binary, {
        name: BrokerProcess(workdir / name, config, web_framework=framework, workers=1,
                            port=free_port(), name=name)
        for name, framework in FRAMEWORKS.items()})
    yield fleet
    fleet.stop()


def _metric(broker: BrokerProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels, as the broker exposes it."""
    text = request(broker.url, "GET", "/metrics").body.decode()
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == name and labels.items() <= s.labels.items())


def _readyz_answers(broker: BrokerProcess, *status: int) -> float:
    """/readyz calls the broker answered (haproxy's checks), with `status` if given."""
    labels = {"status": str(status[0])} if status else {}
    return _metric(broker, "multicloud_broker_requests_total", route="/readyz", **labels)


def _aai_state(broker: BrokerProcess) -> str:
    return request(broker.url, "GET", "/healthz").json()["inventory"]["state"]


def _log_lines(broker: BrokerProcess, text: str) -> int:
    return sum(text in line for line in
               broker.stderr_path.read_text(errors="replace").splitlines())


def _while_loaded(load: FleetLoad, condition) -> None:
    """Wait for `condition` and for ANSWERS_PER_PHASE more answers through haproxy."""
    mark = load.answered
    wait_until(lambda: condition() and load.answered >= mark + ANSWERS_PER_PHASE,
               timeout=30, interval=0.05)


def _in_the_balancer(fleet: Fleet, load: FleetLoad) -> None:
    for name, broker in fleet.brokers.items():
        assert fleet.haproxy.times_taken_down(name) == 0, f"haproxy took {name} out"
        assert _readyz_answers(broker, 503) == 0, name
    failures = load.failures()
    assert not failures, (f"{len(failures)} of {len(load.outcomes)} failed, e.g. "
                          f"{failures[:5]}\n{fleet.haproxy.log_path.read_text()[-3000:]}")


def _outage(fleet: Fleet, aai: AAIServer, load: FleetLoad) -> None:
    """A&AI down for longer than haproxy needs to take a server out."""
    brokers = fleet.brokers.values()
    aai.go_down()
    try:
        wait_until(lambda: all(_aai_state(b) == "unreachable" for b in brokers), timeout=15)
        checks = {b.name: _readyz_answers(b) for b in brokers}
        wait_until(lambda: all(_readyz_answers(b) >= checks[b.name] + CHECKS_DURING_OUTAGE
                               for b in brokers), timeout=15)
        _in_the_balancer(fleet, load)
        # The seen region's entries expired meanwhile: served as last seen.
        _while_loaded(load, lambda: all(
            _metric(b, "multicloud_broker_inventory_cache_lookups_total",
                    result="stale") >= 1 for b in brokers))
        for _ in range(4):  # through haproxy: the broker's 503, naming A&AI
            reply = request(f"http://127.0.0.1:{fleet.haproxy.port}", "GET", _path(UNSEEN))
            assert reply.status == 503 and reply.content_type == "application/json", reply
            error = reply.json()["error"]
            assert "inventory (A&AI) unreachable" in error and "not seen recently" in error
        for broker in brokers:
            assert _metric(broker, "multicloud_broker_inventory_up", backend="aai") == 0
    finally:
        aai.come_up()


@pytest.mark.timeout(120)
def test_an_aai_outage_leaves_the_fleet_in_the_balancer_serving_what_it_has_seen(
        fleet: Fleet, aai: AAIServer, plugin: PluginServer) -> None:
    brokers = fleet.brokers.values()
    for broker in brokers:  # each broker's one worker sees the region
        assert request(broker.url, "GET", _path(SEEN)).status == 200
        assert request(broker.url, "GET", "/healthz").json()["inventory"]["state"] == "up"
    plugin.reset()
    with FleetLoad(fleet.haproxy.port, COUNTED, SIDE, connections=20) as load:
        _while_loaded(load, lambda: True)
        _outage(fleet, aai, load)
        _while_loaded(load, lambda: all(_aai_state(b) == "up" for b in brokers))
    _in_the_balancer(fleet, load)
    for name, broker in fleet.brokers.items():
        assert fleet.haproxy.status(name).startswith("UP"), name
        assert _metric(broker, "multicloud_broker_inventory_up", backend="aai") == 1
        assert request(broker.url, "GET", _path(UNSEEN)).status == 200  # A&AI is back
        assert (_log_lines(broker, DOWN_LINE), _log_lines(broker, BACK_LINE)) == (1, 1), \
            broker.output()
    # Each counted call reached the plugin exactly once: none lost, none doubled.
    counted = [o for o in load.outcomes if o.echoed_path]
    assert all(o.echoed_path.endswith("/counted/" + o.request_id) for o in counted)
    received = collections.Counter(r.path for r in plugin.requests if "/counted/" in r.path)
    assert received == collections.Counter(o.echoed_path for o in counted)
    assert len(load.outcomes) >= 3 * ANSWERS_PER_PHASE

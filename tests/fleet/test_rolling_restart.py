"""A hitless rolling restart, shown on this machine.

Two brokers (2 workers each) share one PostgreSQL inventory (a real server,
tests/support/postgres.py) behind a real haproxy that health-checks
/readyz. Behind the brokers: two plugin stand-ins that record every request
they get (tests/support/upstreams.py PluginServer), one per cloud version of
the fleet's regions. While 100 client connections
send requests through haproxy, each with an id of its own, the brokers are
restarted one after the other with SIGTERM alone, nothing else told to
haproxy: each broker answers /readyz 503 at once and goes on serving for
`shutdown_delay` (longer than haproxy's checks take to mark it down), then
drains and exits; it starts again and must be ready in haproxy (its /readyz
checks passing) before the next one is stopped.

Then: no request failed, each plugin got each request exactly once (none was
answered twice, none lost), and a region added through one broker's HTTP API
during the run was served by the other.
"""

from __future__ import annotations

import base64
import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.fleet import FRAMEWORKS, Fleet
from tests.fleet.load import FleetLoad
from tests.server.helpers import wait_until
from tests.support.broker import BrokerProcess, run_cli, write_config
from tests.support.client import request
from tests.support.postgres import (BROKER_PASSWORD, PostgresServer,  # noqa: F401
                                    postgres_server)
from tests.support.upstreams import LOCALHOST, PluginServer, free_port

PG_ENV = {"MULTICLOUD_BROKER_PG_PASSWORD": BROKER_PASSWORD}
API_USER, API_PASSWORD = "fleet-admin", "fleet-pw"
SCHEMA = "v13"
OWNER = "fleet"
COUNTED = f"/api/multicloud/v1/{OWNER}/Counted/counted/{{id}}"  # -> `plugin`
SIDE = f"/api/multicloud/v1/{OWNER}/Side/extensions"  # -> `side_plugin`
SIDE_AT_PLUGIN = f"/api/multicloud-pike/v1/{OWNER}/Side/extensions"
# One instance of each web framework: the fleet is mixed, both are shown.
MIN_BETWEEN_STEPS = 300  # answers between two restarts: each runs under load


@pytest.fixture(scope="module")
def side_plugin() -> Iterator[PluginServer]:
    with PluginServer() as server:
        yield server


def _config(pg: PostgresServer, database: str, plugin: PluginServer, side: PluginServer,
            password_file: Path) -> dict:
    return {
        # haproxy marks a server down after 2 failed checks 0.3 s apart.
        "DEFAULT": {"graceful_shutdown_timeout": 10, "shutdown_delay": 2,
                    "log_level": "WARNING"},
        "inventory": {"backend": "postgresql", "postgresql_url": pg.url(database),
                      "cache_ttl": 1, "negative_ttl": 0},
        "aai": {"schema_version": SCHEMA},
        "msb": {"protocol": "http", "host": LOCALHOST, "port": 9},
        "plugins": {"endpoints": {"multicloud-ocata": plugin.url,
                                  "multicloud-pike": side.url},
                    "connect_timeout": 2, "read_timeout": 10},
        "region_api": {"username": API_USER, "password_file": str(password_file)},
    }


class RestartingFleet(Fleet):
    """The two brokers, haproxy in front, and how to restart one as Kubernetes does."""

    def __init__(self, workdir: Path, config: dict, haproxy_binary: str) -> None:
        self.workdir = workdir
        self.config = config
        self.restarts: collections.Counter[str] = collections.Counter()
        self.exit_statuses: list[int | None] = []
        super().__init__(workdir, haproxy_binary,
                         {name: self._broker(name, free_port(), 0) for name in FRAMEWORKS})

    def _broker(self, name: str, port: int, generation: int) -> BrokerProcess:
        return BrokerProcess(self.workdir / name, self.config, web_framework=FRAMEWORKS[name],
                             workers=2, port=port, env=PG_ENV, name=f"{name}-{generation}")

    def restart(self, name: str) -> None:
        old = self.brokers[name]
        # SIGTERM only, as Kubernetes sends it: the broker itself makes
        # haproxy stop sending (its /readyz fails) before it stops accepting.
        self.exit_statuses.append(old.stop(timeout=20))
        self.restarts[name] += 1
        new = self._broker(name, old.port, self.restarts[name]).start()
        self.brokers[name] = new
        # Ready again: its /readyz checks pass; only then may the next one stop.
        self.haproxy.wait_status(name, "UP")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer,  # noqa: F811
          plugin: PluginServer, side_plugin: PluginServer,
          haproxy_binary: str) -> Iterator[RestartingFleet]:
    workdir = tmp_path_factory.mktemp("fleet")
    password_file = workdir / "region-api-password"
    password_file.write_text(API_PASSWORD + "\n")
    config = _config(postgres_server, postgres_server.database(), plugin, side_plugin,
                     password_file)
    config_file = write_config(workdir / "region.conf", config)
    for region, version in (("Counted", "ocata"), ("Side", "pike")):
        done = run_cli(["region", "add", "--config-file", str(config_file),
                        "--cloud-owner", OWNER, "--cloud-region-id", region,
                        "--cloud-type", "openstack", "--cloud-region-version", version],
                       env=PG_ENV)
        assert done.returncode == 0, done.stderr
    fleet = RestartingFleet(workdir, config, haproxy_binary)
    yield fleet
    fleet.stop()


def _auth() -> dict[str, str]:
    token = base64.b64encode(f"{API_USER}:{API_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def _add_region_through(broker: BrokerProcess, region: str) -> None:
    path = (f"/aai/{SCHEMA}/cloud-infrastructure/cloud-regions/cloud-region/"
            f"{OWNER}/{region}")
    reply = request(broker.url, "PUT", path, headers=_auth(),
                    body=b'{"cloud-type": "openstack", "cloud-region-version": "ocata",'
                         b' "added-during": "rolling restart"}')
    assert reply.status == 201, reply


def _served_by(broker: BrokerProcess, region: str) -> bool:
    # Both workers of the broker: one answer is not enough to say "served".
    path = f"/api/multicloud/v1/{OWNER}/{region}/served"
    return all(request(broker.url, "GET", path).status == 200 for _ in range(4))


@pytest.mark.timeout(150)
def test_rolling_restart_under_load_loses_nothing_and_doubles_nothing(
        fleet: RestartingFleet, plugin: PluginServer, side_plugin: PluginServer) -> None:
    plugin.reset()
    side_plugin.reset()
    with FleetLoad(fleet.haproxy.port, COUNTED, SIDE, connections=100) as load:
        wait_until(lambda: load.answered >= MIN_BETWEEN_STEPS, timeout=30)
        fleet.restart("b1")
        # During the run: a region added through the restarted broker's API
        # is served by the other (shared PostgreSQL, cache_ttl 1 s).
        assert not _served_by(fleet.brokers["b2"], "AddedDuringRun")
        _add_region_through(fleet.brokers["b1"], "AddedDuringRun")
        wait_until(lambda: _served_by(fleet.brokers["b2"], "AddedDuringRun"),
                   timeout=15, interval=0.2)
        mark = load.answered
        wait_until(lambda: load.answered >= mark + MIN_BETWEEN_STEPS, timeout=30)
        fleet.restart("b2")
        mark = load.answered
        wait_until(lambda: load.answered >= mark + MIN_BETWEEN_STEPS, timeout=30)
    outcomes = load.outcomes
    failures = load.failures()
    assert not failures, (f"{len(failures)} of {len(outcomes)} failed, e.g. "
                          f"{failures[:5]}\n{fleet.haproxy.log_path.read_text()[-3000:]}")
    assert fleet.exit_statuses == [0, 0]  # each drained and stopped as asked
    counted = [o for o in outcomes if o.echoed_path]
    assert len(counted) + sum(1 for o in outcomes if o.path == SIDE) == len(outcomes)
    # Each answer was its own request's...
    assert all(o.echoed_path.endswith("/counted/" + o.request_id) for o in counted)
    # ...and the plugin got each request exactly once: none lost, none doubled.
    received = collections.Counter(r.path for r in plugin.requests
                                   if "/counted/" in r.path)
    sent = collections.Counter(o.echoed_path for o in counted)
    doubled = {path: n for path, n in received.items() if n > 1}
    assert not doubled, f"requests the plugin got more than once: {list(doubled.items())[:5]}"
    assert received == sent
    # The other plugin too: one request received per answer.
    side_answers = sum(1 for o in outcomes if o.path == SIDE)
    assert len(side_plugin.requests_to(SIDE_AT_PLUGIN, "GET")) == side_answers > 0
    assert len(outcomes) >= 3 * MIN_BETWEEN_STEPS and fleet.restarts == {"b1": 1, "b2": 1}

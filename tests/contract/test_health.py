"""GET /healthz and GET /readyz over HTTP, on real broker processes, both frameworks.

Liveness asks no one. Readiness is what is the replica's own: its catalog,
its drain, a local (SQLite) inventory; it answers 503 naming what is not
ready. A shared inventory (A&AI, PostgreSQL) never decides it: its state is
in /healthz's `inventory`, learnt from lookups and from a probe that /readyz
starts in the background at most once per `[inventory] probe_interval`.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema_rs
import pytest

from multicloud_broker.core.health import PROBE_OWNER, PROBE_REGION
from tests.contract.settings import AAI_PASSWORD, AAI_USER
from tests.support.broker import BrokerProcess, stderr_has
from tests.support.client import request
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401 (fixture)
from tests.support.upstreams import AAIServer

SCHEMA = "v16"
PROBE_PATH = (f"/aai/{SCHEMA}/cloud-infrastructure/cloud-regions/cloud-region/"
              f"{PROBE_OWNER}/{PROBE_REGION}")
PROBE_INTERVAL = 1.0


def _config(aai: AAIServer, probe_interval: float) -> dict:
    return {
        "DEFAULT": {"graceful_shutdown_timeout": 5},
        "inventory": {"backend": "aai", "cache_ttl": 0, "probe_interval": probe_interval},
        "aai": {"protocol": "http", "host": "127.0.0.1", "port": aai.port,
                "schema_version": SCHEMA, "username": AAI_USER, "password": AAI_PASSWORD,
                "connect_timeout": 1, "read_timeout": 5},
    }


@pytest.fixture(scope="module")
def health_aai() -> Iterator[AAIServer]:
    with AAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def health_broker(server_backend: str, tmp_path_factory: pytest.TempPathFactory,
                  health_aai: AAIServer, web_framework: str) -> Iterator[BrokerProcess]:
    """One worker on its own A&AI, probing it at most once a second."""
    workdir = tmp_path_factory.mktemp(f"health-{web_framework}")
    with BrokerProcess(workdir, _config(health_aai, PROBE_INTERVAL),
                       web_framework=web_framework, name="health") as broker:
        yield broker


@pytest.fixture(scope="module")
def cached_broker(server_backend: str, tmp_path_factory: pytest.TempPathFactory,
                  health_aai: AAIServer, web_framework: str) -> Iterator[BrokerProcess]:
    """The same, with the per-worker region cache on."""
    workdir = tmp_path_factory.mktemp(f"health-cached-{web_framework}")
    config = _config(health_aai, 0.5)
    config["inventory"].update(cache_ttl=30, stale_ttl=600, negative_ttl=0.5)
    with BrokerProcess(workdir, config, web_framework=web_framework,
                       name="health-cached") as broker:
        yield broker


@pytest.fixture(autouse=True)
def _healthy_aai(request: pytest.FixtureRequest) -> Iterator[None]:
    if "health_aai" in request.fixturenames:
        server = request.getfixturevalue("health_aai")
        server.set_mode("ok")
        server.delay = 0.0
        server.clear_requests()
    yield


PG_ROLE, PG_PASSWORD = "health_broker", "health-pw"


@pytest.fixture(scope="module")
def pg_broker(server_backend, tmp_path_factory: pytest.TempPathFactory,
              postgres_server: PostgresServer,  # noqa: F811
              web_framework: str) -> Iterator[tuple[BrokerProcess, PostgresServer]]:
    """A broker on a PostgreSQL inventory of its own role, probing twice a second."""
    admin = postgres_server.admin()
    if not admin.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=PG_ROLE):
        admin.run(f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD '{PG_PASSWORD}'")
    admin.close()
    database = postgres_server.database(owner=PG_ROLE)
    config = {"DEFAULT": {"graceful_shutdown_timeout": 5},
              "inventory": {"backend": "postgresql", "cache_ttl": 0, "probe_interval": 0.5,
                            "postgresql_url": postgres_server.url(database, PG_ROLE),
                            "postgresql_timeout": 2}}
    workdir = tmp_path_factory.mktemp(f"health-pg-{web_framework}")
    with BrokerProcess(workdir, config, web_framework=web_framework, name="health-pg",
                       env={"MULTICLOUD_BROKER_PG_PASSWORD": PG_PASSWORD}) as broker:
        yield broker, postgres_server


SHARED_READY = {"status": "ready", "checks": {"catalog": "ok", "server": "ok"}}


def _readyz(url: str):
    reply = request(url, "GET", "/readyz", timeout=10)
    assert reply.content_type == "application/json", reply
    return reply


def _inventory(url: str) -> dict:
    reply = request(url, "GET", "/healthz", timeout=10)
    assert reply.status == 200 and reply.json()["status"] == "ok", reply
    return reply.json()["inventory"]


def _wait_for_state(url: str, state: str, timeout: float = 15.0) -> dict:
    """/healthz's inventory once it says `state`; meanwhile every /readyz
    (which starts the background probes) must answer ready."""
    deadline = time.monotonic() + timeout
    while True:
        reply = _readyz(url)
        assert (reply.status, reply.json()) == (200, SHARED_READY), reply
        inventory = _inventory(url)
        if inventory["state"] == state or time.monotonic() > deadline:
            assert inventory["state"] == state, inventory
            return inventory
        time.sleep(0.1)


def _lines(broker: BrokerProcess, text: str) -> int:
    return sum(text in line for line in
               broker.stderr_path.read_text(errors="replace").splitlines())


def test_healthz_answers_ok_and_asks_no_one(health_broker: BrokerProcess,
                                           health_aai: AAIServer) -> None:
    doc = request(health_broker.url, "GET", "/api/multicloud/v0/swagger.json").json()
    schema = {**doc["definitions"]["Health"], "definitions": doc["definitions"]}
    for path in ("/healthz", "/healthz/"):
        reply = request(health_broker.url, "GET", path)
        assert reply.status == 200, reply
        body = reply.json()
        assert body["status"] == "ok" and body["inventory"]["backend"] == "aai", body
        assert jsonschema_rs.Draft4Validator(schema).is_valid(body), body
        assert reply.content_type == "application/json"
    assert health_aai.requests == []


def test_healthz_is_ok_and_names_aai_unreachable(aai_down_broker: BrokerProcess) -> None:
    inventory = _wait_for_state(aai_down_broker.url, "unreachable")
    assert inventory["error"].startswith("inventory (A&AI) unreachable"), inventory
    assert inventory["since"].endswith("Z") and inventory["checked_seconds_ago"] >= 0


def test_readyz_stays_ready_while_aai_is_unreachable(aai_down_broker: BrokerProcess) -> None:
    """A&AI down for everyone must not take every replica out of the balancer."""
    for _ in range(3):
        reply = _readyz(aai_down_broker.url)
        assert (reply.status, reply.json()) == (200, SHARED_READY), reply


def test_readyz_probes_aai_in_the_background_with_the_brokers_credentials(
        health_broker: BrokerProcess, health_aai: AAIServer) -> None:
    time.sleep(PROBE_INTERVAL)  # let an earlier test's outcome expire: this one probes
    reply = _readyz(health_broker.url)
    assert (reply.status, reply.json()) == (200, SHARED_READY), reply
    probes = health_aai.wait_for(PROBE_PATH, method="GET")
    for _ in range(3):  # within the interval: no other probe
        assert _readyz(health_broker.url).status == 200
    assert len(health_aai.requests_to(PROBE_PATH)) == 1, [r.target for r in health_aai.requests]
    assert AAIServer.basic_auth(probes[0]) == (AAI_USER, AAI_PASSWORD)
    assert probes[0].headers.get("X-FromAppId") == "MultiCloud"
    assert _wait_for_state(health_broker.url, "up")["backend"] == "aai"


def test_readyz_asks_aai_at_most_once_per_interval(health_broker: BrokerProcess,
                                                  health_aai: AAIServer) -> None:
    started = time.monotonic()
    replies = [_readyz(health_broker.url) for _ in range(20)]
    elapsed = time.monotonic() - started
    assert [r.status for r in replies] == [200] * 20
    probes = len(health_aai.requests_to(PROBE_PATH))
    # One probe per started interval at most (one worker), however many calls.
    assert probes <= math.ceil(elapsed / PROBE_INTERVAL) + 1, (probes, elapsed)
    assert probes < 20


def test_aai_failing_is_told_in_healthz_and_logged_once_each_way(
        health_broker: BrokerProcess, health_aai: AAIServer) -> None:
    _wait_for_state(health_broker.url, "up")
    down, back = "inventory (A&AI) is unreachable (was up)", "inventory (A&AI) answers again"
    before = _lines(health_broker, down), _lines(health_broker, back)
    health_aai.set_mode("error")
    inventory = _wait_for_state(health_broker.url, "unreachable")
    assert inventory["error"] == "inventory (A&AI) answered 500", inventory
    probes = len(health_aai.requests_to(PROBE_PATH))
    while len(health_aai.requests_to(PROBE_PATH)) < probes + 2:  # more probes, same state
        _wait_for_state(health_broker.url, "unreachable")
    health_aai.set_mode("ok")
    _wait_for_state(health_broker.url, "up")
    assert stderr_has(health_broker, back)
    assert (_lines(health_broker, down), _lines(health_broker, back)) == (
        before[0] + 1, before[1] + 1)


def test_refused_credentials_are_told_in_healthz(health_broker: BrokerProcess,
                                                 health_aai: AAIServer) -> None:
    health_aai.set_mode("unauthorized")
    inventory = _wait_for_state(health_broker.url, "refused")
    assert "credentials" in inventory["error"], inventory


def test_a_hanging_aai_holds_no_readiness_call(health_broker: BrokerProcess,
                                               health_aai: AAIServer) -> None:
    """The probe waits for A&AI in the background: every /readyz answers at
    once, and a hung inventory does not pile up probes."""
    _wait_for_state(health_broker.url, "up")
    time.sleep(PROBE_INTERVAL)  # the next call probes
    health_aai.clear_requests()
    health_aai.set_mode("hang")
    try:
        first = _readyz(health_broker.url)
        assert len(health_aai.wait_for(PROBE_PATH)) == 1  # the probe hangs in A&AI
        time.sleep(PROBE_INTERVAL)  # due again, but one probe at a time
        others = [_readyz(health_broker.url) for _ in range(3)]
        assert [r.status for r in [first, *others]] == [200] * 4
        assert len(health_aai.requests_to(PROBE_PATH)) == 1
    finally:
        health_aai.set_mode("ok")  # lets the hung answer go
    _wait_for_state(health_broker.url, "up")


def test_the_region_cache_does_not_hide_an_outage_from_healthz(
        cached_broker: BrokerProcess, health_aai: AAIServer) -> None:
    """With cache_ttl, stale_ttl and negative_ttl on, as in production: A&AI
    down is told within probe_interval, up again too; ready throughout."""
    _wait_for_state(cached_broker.url, "up")
    health_aai.go_down()
    try:
        assert "unreachable" in _wait_for_state(cached_broker.url, "unreachable")["error"]
    finally:
        health_aai.come_up()
    _wait_for_state(cached_broker.url, "up")


def test_a_postgresql_inventory_is_told_in_healthz_not_readyz(pg_broker) -> None:
    """PostgreSQL refusing the broker's role (and its sessions cut): /healthz
    says so, /readyz stays ready (the fleet shares the database); letting the
    role in again is seen too."""
    broker, server = pg_broker
    _wait_for_state(broker.url, "up")
    admin = server.admin()
    try:
        admin.run(f"ALTER ROLE {PG_ROLE} NOLOGIN")
        admin.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  " WHERE usename = :r", r=PG_ROLE)
        inventory = _wait_for_state(broker.url, "refused")
        assert inventory["backend"] == "postgresql" and "PostgreSQL" in inventory["error"]
    finally:
        admin.run(f"ALTER ROLE {PG_ROLE} LOGIN")
        admin.close()
    _wait_for_state(broker.url, "up")


def test_readyz_on_the_embedded_inventory(broker: BrokerProcess) -> None:
    reply = _readyz(broker.url)
    assert reply.status == 200, reply
    assert reply.json()["checks"] == {"catalog": "ok", "inventory": "ok", "server": "ok"}
    # A file of this replica's own: checked by /readyz, not told in /healthz.
    assert request(broker.url, "GET", "/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_paths_take_get_only(broker: BrokerProcess, path: str) -> None:
    reply = request(broker.url, "POST", path, body=b"{}",
                    headers={"Content-Type": "application/json"})
    assert reply.status == 405, reply
    assert reply.allow() == {"GET"}
    assert "error" in reply.json()


@pytest.mark.parametrize("path", ["/api/multicloud/healthz", "/api/multicloud/readyz",
                                  "/healthz/x", "/readyzz"])
def test_health_paths_exist_only_at_the_root(broker: BrokerProcess, path: str) -> None:
    reply = request(broker.url, "GET", path)
    assert reply.status == 404, reply
    assert "error" in reply.json()


def test_health_paths_are_in_the_swagger_document(broker: BrokerProcess) -> None:
    doc = request(broker.url, "GET", "/api/multicloud/v0/swagger.json").json()
    base = (doc.get("basePath") or "/").rstrip("/")
    paths = {base + path: ops for path, ops in doc["paths"].items()}
    for path in ("/healthz", "/readyz"):
        assert set(paths[path]) == {"get"}, sorted(paths)
    assert "503" in paths["/readyz"]["get"]["responses"]


@pytest.mark.timeout(60)
def test_readyz_answers_503_from_sigterm_while_the_worker_still_serves(
        tmp_path: Path, health_aai: AAIServer, web_framework: str) -> None:
    """SIGTERM turns /readyz 503 'draining' at once, while the worker goes on
    serving for shutdown_delay: a balancer that checks it stops sending first."""
    config = _config(health_aai, PROBE_INTERVAL)
    config["DEFAULT"]["shutdown_delay"] = 2
    broker = BrokerProcess(tmp_path, config, web_framework=web_framework,
                           name="draining").start()
    try:
        assert (_readyz(broker.url).json()) == SHARED_READY
        os.kill(broker.pid, signal.SIGTERM)
        reply = _wait_for_status(broker.url, 503)
        status = broker.wait_stopped(timeout=20)  # the drain ends by itself
    finally:
        broker.stop()
    body = json.loads(reply.body)
    assert body["status"] == "not ready" and body["checks"]["catalog"] == "ok", body
    assert body["checks"]["server"].startswith("draining"), body
    assert body["error"].startswith("not ready: server: draining"), body
    assert status == 0, broker.output()


def _wait_for_status(url: str, status: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        reply = _readyz(url)
        if reply.status == status or time.monotonic() > deadline:
            assert reply.status == status, reply
            return reply
        time.sleep(0.1)

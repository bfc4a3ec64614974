"""GET /healthz and GET /readyz over HTTP, on real broker processes, both frameworks.

Liveness asks no one; readiness probes the inventory (a real A&AI request at
most once per `[inventory] probe_interval`), and answers 503 naming what is
not ready: A&AI down or failing, or the worker draining after SIGTERM.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from multicloud_broker.core.health import PROBE_OWNER, PROBE_REGION
from tests.contract.settings import AAI_PASSWORD, AAI_USER
from tests.support.broker import BrokerProcess
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


def _readyz(url: str):
    reply = request(url, "GET", "/readyz", timeout=10)
    assert reply.content_type == "application/json", reply
    return reply


def test_healthz_answers_ok_and_asks_no_one(health_broker: BrokerProcess,
                                           health_aai: AAIServer) -> None:
    for path in ("/healthz", "/healthz/"):
        reply = request(health_broker.url, "GET", path)
        assert reply.status == 200, reply
        assert reply.json() == {"status": "ok"}
        assert reply.content_type == "application/json"
    assert health_aai.requests == []


def test_healthz_is_ok_while_the_inventory_is_down(aai_down_broker: BrokerProcess) -> None:
    reply = request(aai_down_broker.url, "GET", "/healthz")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})


def test_readyz_probes_aai_with_the_brokers_credentials(health_broker: BrokerProcess,
                                                        health_aai: AAIServer) -> None:
    time.sleep(PROBE_INTERVAL)  # let an earlier test's outcome expire: this one probes
    reply = _readyz(health_broker.url)
    assert reply.status == 200, reply
    assert reply.json() == {"status": "ready", "checks": {
        "catalog": "ok", "inventory": "ok", "server": "ok"}}
    probes = health_aai.requests_to(PROBE_PATH, "GET")
    assert len(probes) == 1, [r.target for r in health_aai.requests]
    assert AAIServer.basic_auth(probes[0]) == (AAI_USER, AAI_PASSWORD)
    assert probes[0].headers.get("X-FromAppId") == "MultiCloud"


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


def test_readyz_turns_503_when_aai_fails_and_back_when_it_recovers(
        health_broker: BrokerProcess, health_aai: AAIServer) -> None:
    health_aai.set_mode("error")
    reply = _wait_for_status(health_broker.url, 503)
    body = reply.json()
    assert body["status"] == "not ready"
    assert body["checks"]["inventory"] == "inventory (A&AI) answered 500"
    assert body["checks"]["catalog"] == body["checks"]["server"] == "ok"
    assert body["error"].startswith("not ready: inventory: ")
    health_aai.set_mode("ok")
    assert _wait_for_status(health_broker.url, 200).json()["status"] == "ready"


def test_readyz_names_refused_credentials(health_broker: BrokerProcess,
                                         health_aai: AAIServer) -> None:
    health_aai.set_mode("unauthorized")
    body = _wait_for_status(health_broker.url, 503).json()
    assert "credentials" in body["checks"]["inventory"], body


def test_a_hanging_aai_holds_one_readiness_call_not_all(health_broker: BrokerProcess,
                                                       health_aai: AAIServer) -> None:
    """While the probe waits for A&AI, other /readyz calls get the previous
    outcome at once: a hung inventory does not pile up probes."""
    _wait_for_status(health_broker.url, 200)  # the outcome before the hang: ready
    time.sleep(PROBE_INTERVAL)  # the next call probes
    health_aai.clear_requests()
    health_aai.set_mode("hang")
    first: dict = {}
    probing = threading.Thread(target=lambda: first.update(reply=_readyz(health_broker.url)))
    probing.start()
    try:
        assert len(health_aai.wait_for(PROBE_PATH)) == 1  # the probe hangs in A&AI
        others = [_readyz(health_broker.url) for _ in range(3)]
        assert probing.is_alive()  # answered while the probe still hung
        assert [r.status for r in others] == [200] * 3  # the outcome before the hang
        assert len(health_aai.requests_to(PROBE_PATH)) == 1
    finally:
        health_aai.set_mode("ok")  # lets the hung answer go
        probing.join(timeout=15)
    # The hung request itself was never answered by A&AI: not ready, said so.
    assert first["reply"].status == 503
    assert "unreachable" in first["reply"].json()["checks"]["inventory"]


def test_the_region_cache_does_not_hide_an_outage_from_readiness(
        cached_broker: BrokerProcess, health_aai: AAIServer) -> None:
    """With cache_ttl, stale_ttl and negative_ttl on, as in production: A&AI
    down turns readiness 503 (within probe_interval + negative_ttl), up turns it back."""
    assert _readyz(cached_broker.url).status == 200
    health_aai.go_down()
    try:
        body = _wait_for_status(cached_broker.url, 503).json()
        assert "unreachable" in body["checks"]["inventory"], body
    finally:
        health_aai.come_up()
    assert _wait_for_status(cached_broker.url, 200).json()["status"] == "ready"


def test_readyz_follows_the_postgresql_inventory(pg_broker) -> None:
    """PostgreSQL refusing the broker's role (and its sessions cut) turns
    readiness 503; letting the role in again turns it back."""
    broker, server = pg_broker
    assert _readyz(broker.url).status == 200
    admin = server.admin()
    try:
        admin.run(f"ALTER ROLE {PG_ROLE} NOLOGIN")
        admin.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  " WHERE usename = :r", r=PG_ROLE)
        body = _wait_for_status(broker.url, 503).json()
        assert "PostgreSQL" in body["checks"]["inventory"], body
    finally:
        admin.run(f"ALTER ROLE {PG_ROLE} LOGIN")
        admin.close()
    assert _wait_for_status(broker.url, 200).json()["status"] == "ready"


def test_readyz_is_503_when_aai_is_unreachable(aai_down_broker: BrokerProcess) -> None:
    reply = _readyz(aai_down_broker.url)
    assert reply.status == 503, reply
    body = reply.json()
    assert "unreachable" in body["checks"]["inventory"], body
    assert "inventory" in body["error"]


def test_readyz_on_the_embedded_inventory(broker: BrokerProcess) -> None:
    reply = _readyz(broker.url)
    assert reply.status == 200, reply
    assert reply.json()["checks"] == {"catalog": "ok", "inventory": "ok", "server": "ok"}


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
def test_readyz_answers_503_once_sigterm_starts_the_drain(
        tmp_path: Path, health_aai: AAIServer, web_framework: str) -> None:
    """A /readyz in flight when SIGTERM arrives (its A&AI probe is slow) is
    answered 503 'draining': the server flagged the drain before finishing."""
    broker = BrokerProcess(tmp_path, _config(health_aai, 0), web_framework=web_framework,
                           name="draining").start()
    try:
        assert _readyz(broker.url).status == 200
        health_aai.delay = 2.0
        answer: dict = {}
        asking = threading.Thread(target=lambda: answer.update(reply=_readyz(broker.url)))
        asking.start()
        assert len(health_aai.wait_for(PROBE_PATH, count=2)) == 2  # the probe is in flight
        os.kill(broker.pid, signal.SIGTERM)
        asking.join(timeout=30)
        reply = answer["reply"]
        status = broker.wait_stopped(timeout=20)  # the drain ends by itself
    finally:
        broker.stop()
    assert reply.status == 503, reply
    body = json.loads(reply.body)
    assert body["checks"]["server"].startswith("draining"), body
    assert body["checks"]["inventory"] == "ok"
    assert status == 0, broker.output()


def _wait_for_status(url: str, status: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        reply = _readyz(url)
        if reply.status == status or time.monotonic() > deadline:
            assert reply.status == status, reply
            return reply
        time.sleep(0.1)

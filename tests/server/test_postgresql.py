"""The PostgreSQL inventory against a real PostgreSQL server: schema created and
upgraded, the `region` commands, a broker serving from it under both
frameworks, and a slow query that does not stall the worker's other requests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from multicloud_broker.inventory import (CloudRegion, InventoryConfigError, InventoryError,
                                         RegionExists, RegionNotFound)
from multicloud_broker.inventory.postgresql import SCHEMA_VERSION, PostgresInventory
from tests.server.helpers import FRAMEWORKS, wait_until
from tests.support.broker import BrokerProcess, run_cli, write_config
from tests.support.client import request
from tests.support.contract import assert_json_error
from tests.support.postgres import (BROKER_PASSWORD, PostgresServer,
                                    postgres_server)  # noqa: F401  (the session fixture)
from tests.support.upstreams import ClosedPort, PluginServer

PASSWORD_ENV = {"MULTICLOUD_BROKER_PG_PASSWORD": BROKER_PASSWORD}
REGION = CloudRegion("pgowner", "RegionOne", "openstack", "ocata")


@pytest.fixture
def pg(postgres_server: PostgresServer) -> PostgresServer:  # noqa: F811
    return postgres_server


@pytest.fixture
def password_file(tmp_path: Path) -> str:
    path = tmp_path / "pg-password"
    path.write_text(BROKER_PASSWORD + "\n")
    return str(path)


@pytest.fixture
def inventory(pg, password_file) -> PostgresInventory:
    return PostgresInventory(pg.url(pg.database()), password_file, pool_size=4, timeout=5)


def test_check_creates_the_schema_and_regions_round_trip(inventory):
    inventory.check()
    assert inventory.schema_version() == SCHEMA_VERSION
    inventory.add(REGION)
    with pytest.raises(RegionExists):
        inventory.add(REGION)
    assert inventory.get("pgowner", "RegionOne") == REGION
    assert inventory.list() == [REGION]
    inventory.remove("pgowner", "RegionOne")
    with pytest.raises(RegionNotFound):
        inventory.get("pgowner", "RegionOne")
    with pytest.raises(RegionNotFound):
        inventory.remove("pgowner", "RegionOne")


def test_a_version_1_database_is_upgraded_keeping_its_regions(pg, password_file):
    name = pg.database()
    conn = pg.admin(name)
    conn.run("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
             " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    conn.run("INSERT INTO schema_version (version) VALUES (1)")
    conn.run("CREATE TABLE cloud_region (cloud_owner TEXT NOT NULL, cloud_region_id TEXT"
             " NOT NULL, cloud_type TEXT NOT NULL, cloud_region_version TEXT NOT NULL,"
             " PRIMARY KEY (cloud_owner, cloud_region_id))")
    conn.run("INSERT INTO cloud_region VALUES ('pgowner', 'RegionOne', 'openstack', 'ocata')")
    conn.run("ALTER TABLE schema_version OWNER TO broker")
    conn.run("ALTER TABLE cloud_region OWNER TO broker")
    conn.close()
    inventory = PostgresInventory(pg.url(name), password_file)
    inventory.check()
    assert inventory.schema_version() == SCHEMA_VERSION > 1
    assert inventory.get("pgowner", "RegionOne") == REGION
    conn = pg.admin(name)
    assert conn.run("SELECT extra FROM cloud_region") == [[{}]]
    assert [r[0] for r in conn.run("SELECT version FROM schema_version ORDER BY 1")] == \
        list(range(1, SCHEMA_VERSION + 1))
    conn.close()


def test_brokers_starting_together_migrate_once(pg, password_file):
    url = pg.url(pg.database())
    errors: list[BaseException] = []

    def check() -> None:
        try:
            PostgresInventory(url, password_file).check()
        except BaseException as exc:  # the outcome under test
            errors.append(exc)
    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert PostgresInventory(url, password_file).schema_version() == SCHEMA_VERSION


def test_a_newer_schema_is_refused(pg, password_file):
    name = pg.database()
    PostgresInventory(pg.url(name), password_file).check()
    conn = pg.admin(name)
    conn.run("INSERT INTO schema_version (version) VALUES (99)")
    conn.close()
    with pytest.raises(InventoryConfigError, match="newer"):
        PostgresInventory(pg.url(name), password_file).check()


def test_wrong_password_is_a_config_error_naming_credentials_not_the_password(pg, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    with pytest.raises(InventoryConfigError, match="credentials") as caught:
        PostgresInventory(pg.url(pg.database()), str(wrong)).check()
    assert "not-the-password" not in caught.value.message


def test_nothing_listening_is_a_config_error_at_check_and_503_at_request(password_file):
    with ClosedPort() as closed:
        inventory = PostgresInventory(f"postgresql://broker@127.0.0.1:{closed.port}/x",
                                      password_file, timeout=1)
        with pytest.raises(InventoryConfigError, match="unreachable"):
            inventory.check()
        with pytest.raises(InventoryError) as caught:
            inventory.get("o", "r")
        assert caught.value.status == 503


@pytest.mark.parametrize("url,named", [
    ("postgresql://broker:pw@127.0.0.1:5432/db", "password"),
    ("mysql://broker@127.0.0.1/db", "postgresql://"),
    ("postgresql://127.0.0.1:5432/db", "user"),
    ("postgresql://broker@127.0.0.1:5432/", "database"),
    ("postgresql://broker@127.0.0.1:99999/db", "(?i)port"),
    ("postgresql://broker@127.0.0.1:0/db", "(?i)port")])
def test_malformed_urls_are_config_errors(url, named):
    inventory = PostgresInventory(url)
    with pytest.raises(InventoryConfigError, match=named) as caught:
        inventory.check()
    assert ":pw@" not in caught.value.message
    with pytest.raises(InventoryError):  # and a 503 if a request ever asks
        inventory.get("o", "r")


def test_an_unreadable_password_file_is_a_config_error(pg, tmp_path):
    with pytest.raises(InventoryConfigError, match="postgresql_password_file"):
        PostgresInventory(pg.url("x"), str(tmp_path / "missing")).check()


# -- the region command and the broker, as an operator meets them -------------

def _config(pg: PostgresServer, database: str, plugin_url: str, **inventory) -> dict:
    return {"DEFAULT": {"graceful_shutdown_timeout": 5},
            "inventory": {"backend": "postgresql", "postgresql_url": pg.url(database),
                          "cache_ttl": 1, **inventory},
            "plugins": {"endpoints": {"multicloud-ocata": plugin_url}}}


def _region(config_file: Path, *args: str):
    return run_cli(["region", *args, "--config-file", str(config_file)], env=PASSWORD_ENV)


def test_region_commands_work_against_postgresql(pg, tmp_path):
    config_file = write_config(tmp_path / "pg.conf", _config(pg, pg.database(), "http://x"))
    ids = ["--cloud-owner", "pgowner", "--cloud-region-id", "RegionOne"]
    add = ["add", *ids, "--cloud-type", "openstack", "--cloud-region-version", "ocata"]
    assert _region(config_file, *add).returncode == 0
    duplicate = _region(config_file, *add)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    listed = _region(config_file, "list")
    assert listed.returncode == 0 and "RegionOne" in listed.stdout and "ocata" in listed.stdout
    assert "RegionOne" in _region(config_file, "show", *ids).stdout
    assert _region(config_file, "remove", *ids).returncode == 0
    gone = _region(config_file, "remove", *ids)
    assert gone.returncode == 2 and "not found" in gone.stderr
    wrong = run_cli(["region", "list", "--config-file", str(config_file)],
                    env={"MULTICLOUD_BROKER_PG_PASSWORD": "wrong-password"})
    assert wrong.returncode == 2 and "credentials" in wrong.stderr
    assert "wrong-password" not in wrong.stderr + wrong.stdout
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr


@pytest.fixture(scope="module")
def plugin():
    with PluginServer() as server:
        yield server


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_broker_serves_regions_from_postgresql(pg, tmp_path, plugin, framework):
    config = _config(pg, pg.database(), plugin.url)
    config_file = write_config(tmp_path / "region.conf", config)
    assert _region(config_file, "add", "--cloud-owner", "pgowner", "--cloud-region-id",
                   "RegionOne", "--cloud-type", "openstack",
                   "--cloud-region-version", "ocata").returncode == 0
    path = "/api/multicloud/v0/pgowner_RegionOne/tenants"
    with BrokerProcess(tmp_path, config, web_framework=framework, workers=2,
                       env=PASSWORD_ENV) as broker:
        reply = request(broker.url, "GET", path)
        assert reply.status == 200 and reply.json()["path"] == \
            "/api/multicloud-ocata/v0/pgowner_RegionOne/tenants", reply
        assert_json_error(request(broker.url, "GET", "/api/multicloud/v0/pgowner_Nope/x"), 404)
        assert _region(config_file, "remove", "--cloud-owner", "pgowner",
                       "--cloud-region-id", "RegionOne").returncode == 0
        # Removed through the shared database: every worker stops serving it
        # once its cache entry (cache_ttl 1 s) is refreshed.
        wait_until(lambda: all(request(broker.url, "GET", path).status == 404
                               for _ in range(6)), timeout=15, interval=0.2)
    assert BROKER_PASSWORD not in broker.output()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_query_stuck_on_a_lock_does_not_stall_the_workers_other_requests(
        pg, tmp_path, plugin, framework):
    database = pg.database()
    config = _config(pg, database, plugin.url, cache_ttl=300, postgresql_timeout=60)
    config_file = write_config(tmp_path / "region.conf", config)
    for region in ("Cached", "Blocked"):
        assert _region(config_file, "add", "--cloud-owner", "pgowner", "--cloud-region-id",
                       region, "--cloud-type", "openstack",
                       "--cloud-region-version", "ocata").returncode == 0
    with BrokerProcess(tmp_path, config, web_framework=framework, workers=1,
                       env=PASSWORD_ENV) as broker:
        cached = "/api/multicloud/v0/pgowner_Cached/tenants"
        assert request(broker.url, "GET", cached).status == 200  # now in the worker's cache
        locker = pg.admin(database)
        locker.run("BEGIN")
        locker.run("LOCK TABLE cloud_region IN ACCESS EXCLUSIVE MODE")
        blocked: list = []
        thread = threading.Thread(target=lambda: blocked.append(request(
            broker.url, "GET", "/api/multicloud/v0/pgowner_Blocked/tenants", timeout=60)))
        try:
            thread.start()
            # The broker's query is now waiting for the test's lock.
            wait_until(lambda: _lock_waiters(locker) >= 1, timeout=20)
            # Same worker, meanwhile: a local answer, and a forwarded call.
            assert request(broker.url, "GET", "/api/multicloud/v0/vim_types",
                           timeout=10).status == 200
            assert request(broker.url, "GET", cached, timeout=10).status == 200
            assert thread.is_alive() and blocked == [] and _lock_waiters(locker) >= 1
        finally:
            locker.run("COMMIT")
            locker.close()
            thread.join(60)
        assert [r.status for r in blocked] == [200], blocked


def _lock_waiters(conn) -> int:
    return conn.run("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                    " WHERE c.relname = 'cloud_region' AND NOT l.granted")[0][0]


def test_check_leaves_no_connection_open(pg, password_file):
    name = pg.database()
    PostgresInventory(pg.url(name), password_file).check()
    conn = pg.admin(name)

    def none_open() -> bool:  # a backend ends a moment after its client closed
        return conn.run("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"
                        " AND usename = 'broker'", d=name)[0][0] == 0
    try:
        wait_until(none_open, timeout=10)
    finally:
        conn.close()


def test_a_query_past_postgresql_timeout_is_an_outage_and_the_pool_recovers(pg, password_file):
    from multicloud_broker.inventory import InventoryUnreachable
    name = pg.database()
    inventory = PostgresInventory(pg.url(name), password_file, pool_size=1, timeout=0.5)
    inventory.check()
    inventory.add(REGION)
    locker = pg.admin(name)
    locker.run("BEGIN")
    locker.run("LOCK TABLE cloud_region IN ACCESS EXCLUSIVE MODE")
    try:
        with pytest.raises(InventoryUnreachable, match="statement timeout") as caught:
            inventory.get("pgowner", "RegionOne")
        assert caught.value.status == 503
    finally:
        locker.run("COMMIT")
        locker.close()
    assert inventory.get("pgowner", "RegionOne") == REGION  # same (only) pooled connection


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_postgresql_going_down_is_ridden_out_for_regions_seen(tmp_path, plugin, framework,
                                                              postgres_server):  # noqa: F811
    # A server of its own: this test stops it.
    own = PostgresServer(postgres_server.bin_dir).start()
    try:
        config = _config(own, own.database(), plugin.url, stale_ttl=3600,
                         postgresql_timeout=1)
        config_file = write_config(tmp_path / "region.conf", config)
        for region in ("Seen", "Unseen"):
            assert _region(config_file, "add", "--cloud-owner", "pgowner",
                           "--cloud-region-id", region, "--cloud-type", "openstack",
                           "--cloud-region-version", "ocata").returncode == 0
        with BrokerProcess(tmp_path, config, web_framework=framework, workers=1,
                           env=PASSWORD_ENV) as broker:
            seen = "/api/multicloud/v0/pgowner_Seen/tenants"
            assert request(broker.url, "GET", seen).status == 200
            own.stop()

            def still_served() -> bool:
                reply = request(broker.url, "GET", seen)
                assert reply.status == 200, reply
                return "serving cloud region pgowner/Seen" in broker.output()
            wait_until(still_served, timeout=20, interval=0.1)
            message = assert_json_error(
                request(broker.url, "GET", "/api/multicloud/v0/pgowner_Unseen/tenants"), 503)
            assert "PostgreSQL" in message and "not seen recently" in message, message
    finally:
        own.stop()


def test_no_password_configured_is_said_plainly(pg, monkeypatch):
    monkeypatch.delenv("MULTICLOUD_BROKER_PG_PASSWORD", raising=False)
    with pytest.raises(InventoryConfigError, match="none is set"):
        PostgresInventory(pg.url(pg.database())).check()


def test_the_environment_password_wins_over_the_file(pg, tmp_path, monkeypatch):
    wrong = tmp_path / "stale-password"
    wrong.write_text("an-old-password\n")
    monkeypatch.setenv("MULTICLOUD_BROKER_PG_PASSWORD", BROKER_PASSWORD)
    PostgresInventory(pg.url(pg.database()), str(wrong)).check()

"""Regions over HTTP (core/regions.py): A&AI's cloud-region paths on the broker's port.

Real brokers under both frameworks, on the sqlite and PostgreSQL backends
(a real PostgreSQL server, tests/support/postgres.py), with the regions API
on (logging at DEBUG, so that no log line may hold a cloud's password); the
contract suite's main broker (API off) and an A&AI broker with credentials.
The django and pecan brokers of one backend share its inventory (one sqlite
file; one database), so each is the other's replica: a change made through
one is served by the other.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import SWAGGER_20

from tests.contract.conftest import WEB_FRAMEWORKS, BrokerPool
from tests.contract.settings import AAI_SCHEMA
from tests.server.helpers import wait_until
from tests.support.broker import REPO_ROOT, BrokerProcess
from tests.support.client import Reply
from tests.support.contract import assert_json_error, call
from multicloud_broker.inventory import CloudRegion
from multicloud_broker.inventory.postgresql import PostgresInventory
from multicloud_broker.inventory.sqlite import SqliteInventory
from tests.support.postgres import (BROKER_PASSWORD, PostgresServer,  # noqa: F401
                                    postgres_server)
from tests.support.upstreams import LOCALHOST, PluginServer

USER, PASSWORD = "region-admin", "pa:ss wörd"  # a ':' and non-ASCII: split at the first ':'
SCHEMA = "v16"
LIST = f"/aai/{SCHEMA}/cloud-infrastructure/cloud-regions"
OCATA_PATH = "/api/multicloud-ocata/v1/{owner}/{region}/tenants"
BACKENDS = ("sqlite", "postgresql")


def auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def one(owner: str, region: str, schema: str = SCHEMA) -> str:
    return f"/aai/{schema}/cloud-infrastructure/cloud-regions/cloud-region/{owner}/{region}"


def ocata(**extra: object) -> dict:
    return {"cloud-type": "openstack", "cloud-region-version": "ocata", **extra}


# A cloud's password with everything that breaks quoting, parameters or
# encodings; its distinctive middle part is what must never show anywhere.
MARK = "n3ver-Sh0wn"
CLOUD_PASSWORD = f"%s%%(x)s:o ?'\"\\\n{MARK}\r\t wörd 中文 \U0001f511"
KEYSTONE = "https://keystone.example:5000/v3"


def esr_list(**fields: object) -> dict:
    entry = {"esr-system-info-id": "esr-1", "system-type": "VIM", "service-url": KEYSTONE,
             "user-name": "admin", "password": CLOUD_PASSWORD, "cloud-domain": "Default",
             "default-tenant": "proj", "ssl-insecure": False, **fields}
    return {"esr-system-info-list": {"esr-system-info": [
        {k: v for k, v in entry.items() if v is not None}]}}


# -- brokers -------------------------------------------------------------------

class ApiBrokers:
    """The brokers with the regions API on, started on first use, stopped at the end."""

    def __init__(self, workdir: Path, plugin: PluginServer, closed_url: str) -> None:
        self.workdir = workdir
        self.plugin = plugin
        self.closed_url = closed_url
        self.pg: PostgresServer | None = None
        self._database = ""
        self._brokers: dict[tuple[str, str], BrokerProcess] = {}

    def get(self, backend: str, framework: str) -> BrokerProcess:
        if (backend, framework) not in self._brokers:
            inventory = ({"backend": "sqlite", "sqlite_path": str(self.workdir / "inv.sqlite")}
                         if backend == "sqlite" else self._postgresql())
            config = {
                "DEFAULT": {"graceful_shutdown_timeout": 5, "log_level": "DEBUG"},
                "inventory": {**inventory, "cache_ttl": 1, "negative_ttl": 0},
                "aai": {"schema_version": SCHEMA},
                "msb": {"protocol": "http", "host": "127.0.0.1", "port": 9},
                "plugins": {"endpoints": {"multicloud-ocata": self.plugin.url,
                                          "multicloud-pike": self.plugin.url},
                            "connect_timeout": 1},
                "region_api": {"username": USER, "password_file": self._password_file()},
            }
            name = f"regions-{backend}-{framework}"
            self._brokers[(backend, framework)] = BrokerProcess(
                self.workdir / name, config, web_framework=framework, workers=2,
                env={"MULTICLOUD_BROKER_PG_PASSWORD": BROKER_PASSWORD}, name=name).start()
        return self._brokers[(backend, framework)]

    def _postgresql(self) -> dict:
        assert self.pg is not None
        if not self._database:
            self._database = self.pg.database()
        return {"backend": "postgresql", "postgresql_url": self.pg.url(self._database)}

    def _password_file(self) -> str:
        path = self.workdir / "region-api-password"
        path.write_text(PASSWORD + "\n", encoding="utf-8")
        return str(path)

    def stored(self, backend: str, owner: str, region: str) -> CloudRegion:
        """The region as the inventory itself holds it (password included)."""
        if backend == "sqlite":
            return SqliteInventory(str(self.workdir / "inv.sqlite")).get(owner, region)
        assert self.pg is not None
        password_file = self.workdir / "pg-password"
        password_file.write_text(BROKER_PASSWORD + "\n")
        inventory = PostgresInventory(self.pg.url(self._database), str(password_file),
                                      pool_size=1)
        try:
            return inventory.get(owner, region)
        finally:
            inventory.close()

    def stop_all(self) -> None:
        for broker in self._brokers.values():
            broker.terminate()
        for broker in self._brokers.values():
            broker.wait_stopped()


@pytest.fixture(scope="module")
def api_brokers(server_backend, tmp_path_factory: pytest.TempPathFactory, plugin: PluginServer,
                broker_pool: BrokerPool) -> Iterator[ApiBrokers]:
    brokers = ApiBrokers(tmp_path_factory.mktemp("region-api"), plugin,
                         broker_pool.closed.url)
    yield brokers
    brokers.stop_all()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, api_brokers: ApiBrokers) -> str:
    if request.param == "postgresql":
        api_brokers.pg = request.getfixturevalue("postgres_server")
    return request.param


@pytest.fixture
def api(api_brokers: ApiBrokers, backend: str, web_framework: str) -> BrokerProcess:
    return api_brokers.get(backend, web_framework)


@pytest.fixture
def owner(web_framework: str, backend: str, request: pytest.FixtureRequest) -> str:
    """An owner of this test's own: the replicas share their inventory."""
    return f"{backend[:2]}-{web_framework}-{abs(hash(request.node.name)) % 10**8}"


def _record(reply: Reply) -> dict:
    assert reply.status in (200, 201), reply
    assert reply.content_type == "application/json", reply
    return reply.json()


# -- off, and who may use it -----------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST"])
def test_off_without_credentials_configured_the_paths_do_not_exist(
        broker: BrokerProcess, method: str) -> None:
    for path in (f"/aai/{AAI_SCHEMA}/cloud-infrastructure/cloud-regions",
                 one("CloudOwner", "RegionOne", "v13")):
        body = json.dumps(ocata()).encode() if method == "PUT" else None
        reply = call(broker.url, method, path, body=body, headers=auth())
        assert "no such resource" in assert_json_error(reply, 404), reply
        assert reply.header("WWW-Authenticate") is None
    paths = call(broker.url, "GET", "/api/multicloud/v0/swagger.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/aai/")]


@pytest.mark.parametrize("headers", [
    {}, auth(password="wrong"), auth(user="someone-else"), auth(password=PASSWORD + "x"),
    auth(password=PASSWORD[:-1]), {"Authorization": "Basic not-base64!"},
    {"Authorization": "Bearer " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
    {"Authorization": "Basic " + base64.b64encode(USER.encode()).decode()},  # no ':'
], ids=["none", "wrong-password", "wrong-user", "longer", "shorter", "not-base64",
        "bearer", "no-colon"])
def test_without_the_right_credentials_401_and_nothing_changes(
        api: BrokerProcess, owner: str, headers: dict) -> None:
    for method, path in (("GET", LIST), ("GET", one(owner, "R1")), ("PUT", one(owner, "R1")),
                         ("DELETE", one(owner, "R1"))):
        body = json.dumps(ocata()).encode() if method == "PUT" else None
        reply = call(api.url, method, path, body=body, headers=headers)
        assert_json_error(reply, 401)
        assert reply.header("WWW-Authenticate", ).startswith("Basic realm="), reply
    assert call(api.url, "GET", one(owner, "R1"), headers=auth()).status == 404


def test_an_a_and_ai_inventory_is_not_ours_to_manage_405(
        broker_pool: BrokerPool, aai, web_framework: str, tmp_path: Path) -> None:
    base = broker_pool._aai_config(aai.port)
    base["region_api"] = {"username": USER, "password": PASSWORD}
    with BrokerProcess(tmp_path, base, web_framework=web_framework, name="aai-regions") as b:
        list_path = f"/aai/{AAI_SCHEMA}/cloud-infrastructure/cloud-regions"
        one_path = one("CloudOwner", "RegionOne", AAI_SCHEMA)
        assert_json_error(call(b.url, "GET", list_path), 401)
        for method, path in (("GET", list_path), ("PUT", one_path), ("DELETE", one_path)):
            reply = call(b.url, method, path, headers=auth(),
                         json_body=ocata() if method == "PUT" else None)
            assert "manage cloud regions in A&AI" in assert_json_error(reply, 405)
        assert aai.requests == []  # nothing was asked of (or written to) A&AI


# -- the records -------------------------------------------------------------------

def test_create_show_list_replace_delete(api: BrokerProcess, owner: str,
                                         plugin: PluginServer) -> None:
    path = one(owner, "RegionOne")
    # The esr-system-info as the broker shows it: its defaults given, no password.
    extra = {"owner-defined-type": "t1", "complex-name": "paris", "esr-system-info-list": {
        "esr-system-info": [{"esr-system-info-id": "x", "service-url": KEYSTONE,
                             "user-name": "admin", "cloud-domain": "Default",
                             "ports": [5000, 35357], "ssl-insecure": True, "none": None}]}}
    created = _record(call(api.url, "PUT", path, headers=auth(), json_body=ocata(**extra)))
    assert call(api.url, "PUT", path, headers=auth(),
                json_body=ocata(**extra)).status == 200  # now a replacement
    shown = _record(call(api.url, "GET", path, headers=auth()))
    assert {k: shown[k] for k in extra} == extra  # kept as given, nested values too
    assert shown["cloud-owner"] == owner and shown["cloud-region-id"] == "RegionOne"
    assert shown["cloud-type"] == "openstack" and shown["cloud-region-version"] == "ocata"
    assert shown["resource-version"] != created["resource-version"]
    listed = _record(call(api.url, "GET", LIST, headers=auth()))["cloud-region"]
    assert shown in listed
    # Served: forwarded to the plugin its cloud type and version choose.
    forwarded = f"/api/multicloud/v1/{owner}/RegionOne/tenants"
    wait_until(lambda: call(api.url, "GET", forwarded).status == 200, timeout=10,
               interval=0.2)
    assert plugin.requests_to(OCATA_PATH.format(owner=owner, region="RegionOne"))
    # Replaced: the new record is all there is (old extra attributes gone).
    replaced = _record(call(api.url, "PUT", path, headers=auth(), json_body={
        "cloud-owner": owner, "cloud-region-id": "RegionOne", "cloud-type": "openstack",
        "cloud-region-version": "pike", "note": "moved"}))
    again = _record(call(api.url, "GET", path, headers=auth()))
    assert again == replaced and again["note"] == "moved" and "complex-name" not in again
    reply = call(api.url, "DELETE", path, headers=auth())
    assert reply.status == 204 and reply.body == b"", reply
    assert_json_error(call(api.url, "GET", path, headers=auth()), 404)
    assert_json_error(call(api.url, "DELETE", path, headers=auth()), 404)
    wait_until(lambda: call(api.url, "GET", forwarded).status == 404, timeout=10,
               interval=0.2)


@pytest.mark.parametrize("body, field", [
    (b"not json", "JSON"), (b"[1, 2]", "JSON object"), (b"", "JSON"),
    (json.dumps({"cloud-region-version": "ocata"}).encode(), "cloud-type"),
    (json.dumps({"cloud-type": "openstack"}).encode(), "cloud-region-version"),
    (json.dumps(ocata(**{"cloud-type": " "})).encode(), "cloud-type"),
    (json.dumps(ocata(**{"cloud-region-version": 13})).encode(), "cloud-region-version"),
    (json.dumps(ocata(**{"cloud-owner": "SomeoneElse"})).encode(), "cloud-owner"),
    (json.dumps(ocata(**{"cloud-region-id": "RegionTwo"})).encode(), "cloud-region-id"),
    (json.dumps(ocata(**{"resource-version": 12})).encode(), "resource-version"),
], ids=["not-json", "array", "empty", "no-type", "no-version", "blank-type",
        "number-version", "other-owner", "other-id", "number-resource-version"])
def test_a_bad_body_is_400_naming_the_field_and_nothing_is_stored(
        api: BrokerProcess, owner: str, body: bytes, field: str) -> None:
    path = one(owner, "RegionOne")
    reply = call(api.url, "PUT", path, body=body, headers=auth())
    assert field in assert_json_error(reply, 400), reply
    assert_json_error(call(api.url, "GET", path, headers=auth()), 404)


@pytest.mark.parametrize("owner_part, region_part, field", [
    ("Cloud_Owner", "R1", "cloud-owner"), ("CloudOwner", "Region.One", "cloud-region-id"),
])
def test_ids_the_broker_cannot_route_are_refused(api: BrokerProcess, owner_part: str,
                                                 region_part: str, field: str) -> None:
    reply = call(api.url, "PUT", one(owner_part, region_part), headers=auth(),
                 json_body=ocata())
    assert field in assert_json_error(reply, 400)
    assert_json_error(call(api.url, "GET", one(owner_part, region_part), headers=auth()), 404)


def test_resource_version_must_match_when_given(api: BrokerProcess, owner: str) -> None:
    path = one(owner, "RegionOne")
    assert_json_error(call(api.url, "PUT", path, headers=auth(),
                           json_body=ocata(**{"resource-version": "1"})), 412)
    first = _record(call(api.url, "PUT", path, headers=auth(), json_body=ocata()))
    second = _record(call(api.url, "PUT", path, headers=auth(), json_body=ocata(
        **{"resource-version": first["resource-version"]})))
    stale = ocata(**{"resource-version": first["resource-version"]})
    assert "changed since" in assert_json_error(
        call(api.url, "PUT", path, headers=auth(), json_body=stale), 412)
    assert_json_error(call(api.url, "DELETE", path + "?resource-version="
                           + first["resource-version"], headers=auth()), 412)
    assert call(api.url, "DELETE", path + "?resource-version=" + second["resource-version"],
                headers=auth()).status == 204


def test_other_schema_versions_and_methods(api: BrokerProcess, owner: str) -> None:
    assert_json_error(call(api.url, "GET", LIST.replace(SCHEMA, "v13"), headers=auth()), 404)
    assert_json_error(call(api.url, "PUT", one(owner, "R1", "v13"), headers=auth(),
                           json_body=ocata()), 404)
    reply = call(api.url, "POST", one(owner, "R1"), headers=auth(), json_body=ocata())
    assert_json_error(reply, 405)
    assert reply.allow() == {"GET", "PUT", "DELETE"}
    reply = call(api.url, "PUT", LIST, headers=auth(), json_body=ocata())
    assert_json_error(reply, 405)
    assert reply.allow() == {"GET"}


def test_a_body_over_the_limit_is_413_on_a_raw_socket(api: BrokerProcess, owner: str) -> None:
    head = (f"PUT {one(owner, 'R1')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {auth()['Authorization']}\r\nContent-Length: {2 << 20}\r\n\r\n")
    with socket.create_connection((LOCALHOST, api.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"{" * 1000)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert_json_error(call(api.url, "GET", one(owner, "R1"), headers=auth()), 404)


def test_a_change_through_one_replica_is_served_by_the_other(
        api_brokers: ApiBrokers, backend: str, plugin: PluginServer) -> None:
    first, second = (api_brokers.get(backend, fw) for fw in WEB_FRAMEWORKS)
    owner = f"{backend[:2]}-replicas"
    path = one(owner, "Shared")
    forwarded = f"/api/multicloud/v1/{owner}/Shared/tenants"
    assert_json_error(call(second.url, "GET", forwarded), 404)
    assert call(first.url, "PUT", path, headers=auth(), json_body=ocata()).status == 201
    # Every worker of the other replica serves it once its cache (1 s) renews.
    wait_until(lambda: all(call(second.url, "GET", forwarded).status == 200
                           for _ in range(4)), timeout=10, interval=0.2)
    assert _record(call(second.url, "GET", path, headers=auth()))["cloud-type"] == "openstack"
    assert call(second.url, "DELETE", path, headers=auth()).status == 204
    wait_until(lambda: all(call(first.url, "GET", forwarded).status == 404
                           for _ in range(4)), timeout=10, interval=0.2)


def test_swagger_describes_the_api_at_the_configured_schema(api: BrokerProcess) -> None:
    doc = call(api.url, "GET", "/api/multicloud/v1/swagger.json").json()
    errors = [str(e) for e in jsonschema_rs.Draft4Validator(SWAGGER_20).iter_errors(doc)]
    assert errors == [], errors[:5]
    aai_paths = {p: set(item) for p, item in doc["paths"].items() if p.startswith("/aai/")}
    assert aai_paths == {LIST: {"get"}, one("{cloud_owner}", "{cloud_region_id}"):
                         {"get", "put", "delete"},
                         one("{cloud_owner}", "{cloud_region_id}") + "/{rest}": {"get"}}
    assert doc["securityDefinitions"]["regionApi"]["type"] == "basic"
    put = doc["paths"][one("{cloud_owner}", "{cloud_region_id}")]["put"]
    assert {"200", "201", "400", "401", "405", "412", "413"} <= set(put["responses"])
    assert put["security"] == [{"regionApi": []}]
    password = doc["definitions"]["EsrSystemInfo"]["properties"]["password"]
    assert "Write-only: never in an answer" in password["description"]


# -- the cloud's access (esr-system-info) --------------------------------------------------

def _no_password_in(reply: Reply, key_too: bool = True) -> None:
    """Not the password's value; in a record, not even its key."""
    text = reply.body.decode()
    assert MARK not in text and not (key_too and "password" in text), text[:500]


def test_the_access_is_stored_and_never_answered_nor_logged(
        api: BrokerProcess, api_brokers: ApiBrokers, backend: str, owner: str) -> None:
    path = one(owner, "RegionOne")
    body = ocata(**esr_list(), **{"cloud-extra-info": json.dumps(
        {"openstack-region-id": "RegionKs", "other": [1]})})
    created = call(api.url, "PUT", path, headers=auth(), json_body=body)
    assert created.status == 201, created
    shown = call(api.url, "GET", path, headers=auth())
    listed = call(api.url, "GET", LIST, headers=auth())
    for reply in (created, shown, listed):
        _no_password_in(reply)
    entry = _record(shown)["esr-system-info-list"]["esr-system-info"][0]
    given = {k: v for k, v in body["esr-system-info-list"]["esr-system-info"][0].items()
             if k != "password"}
    assert entry == given
    assert _record(shown)["cloud-extra-info"] == body["cloud-extra-info"]  # as given
    access = api_brokers.stored(backend, owner, "RegionOne").access
    assert (access.password, access.openstack_region, access.project) == \
        (CLOUD_PASSWORD, "RegionKs", "proj")
    # GET, modify, PUT: the password stays.
    changed = _record(shown)
    changed["esr-system-info-list"]["esr-system-info"][0]["default-tenant"] = "other"
    replaced = call(api.url, "PUT", path, headers=auth(), json_body=changed)
    assert replaced.status == 200, replaced
    _no_password_in(replaced)
    access = api_brokers.stored(backend, owner, "RegionOne").access
    assert (access.password, access.project) == (CLOUD_PASSWORD, "other")
    # Nowhere in what the broker wrote (its log at DEBUG, the access log) or
    # in its metrics.
    metrics = call(api.url, "GET", "/metrics")
    assert metrics.status == 200 and MARK not in metrics.body.decode()
    # The broker's output is unbuffered (PYTHONUNBUFFERED): read as it stands.
    forwarded = call(api.url, "GET", f"/api/multicloud/v1/{owner}/RegionOne/tenants")
    assert forwarded.status in (200, 404), forwarded  # a DEBUG routing line, if served
    written = [f for f in api.workdir.rglob("*") if f.is_file()]
    assert any(f.name.endswith(".stderr") for f in written)
    for f in written:
        assert MARK.encode() not in f.read_bytes(), f
    assert b"DEBUG" in b"".join(f.read_bytes() for f in written)  # it does log at DEBUG


@pytest.mark.parametrize("fields, field", [
    ({"service-url": 5000}, "service-url"),
    ({"service-url": "keystone.example:5000/v3"}, "service-url"),
    ({"service-url": f"https://admin:{MARK}@keystone.example/v3"}, "service-url"),
    ({"ssl-insecure": "yes"}, "ssl-insecure"),
    ({"user-name": None}, "user-name"),
    ({"password": 12}, "password"),
    ({"cloud-extra-info": {"openstack-region-id": "R"}}, "cloud-extra-info"),
], ids=["url-number", "url-not-http", "url-credentials", "insecure-string", "no-user",
        "password-number", "extra-info-object"])
def test_bad_access_values_are_400_naming_the_field(
        api: BrokerProcess, owner: str, fields: dict, field: str) -> None:
    path = one(owner, "RegionOne")
    fields = dict(fields)  # the parameter is shared by every run
    extra_info = fields.pop("cloud-extra-info", None)
    body = ocata(**esr_list(**fields))
    if extra_info is not None:
        body["cloud-extra-info"] = extra_info
    reply = call(api.url, "PUT", path, headers=auth(), json_body=body)
    assert field in assert_json_error(reply, 400), reply
    _no_password_in(reply, key_too=False)
    assert_json_error(call(api.url, "GET", path, headers=auth()), 404)


def test_another_keystone_or_user_needs_the_password_again(
        api: BrokerProcess, api_brokers: ApiBrokers, backend: str, owner: str) -> None:
    path = one(owner, "RegionOne")
    assert call(api.url, "PUT", path, headers=auth(), json_body=ocata(**esr_list())).status == 201
    moved = ocata(**esr_list(password=None, **{"service-url": "https://attacker.example/v3"}))
    reply = call(api.url, "PUT", path, headers=auth(), json_body=moved)
    assert "password is required" in assert_json_error(reply, 400)
    assert api_brokers.stored(backend, owner, "RegionOne").access.auth_url == KEYSTONE
    # Without the list, the region has no access any more.
    assert call(api.url, "PUT", path, headers=auth(), json_body=ocata()).status == 200
    assert api_brokers.stored(backend, owner, "RegionOne").access is None


# -- fuzzed against its own document ----------------------------------------------

# What Swagger 2.0 cannot say, told to schemathesis: a schema-valid PUT may
# still be refused, 400 when its body's cloud-owner or cloud-region-id differs
# from the path's, 412 when its resource-version is not the record's; a
# schema-valid show or delete of a region that does not exist is a 404.
FUZZ_CONFIG = """
[[operations]]
include-path-regex = "^/aai/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "412"]
"""

@pytest.mark.timeout(300)
def test_schemathesis_finds_nothing_wrong_in_the_regions_api(
        api_brokers: ApiBrokers, web_framework: str, tmp_path: Path) -> None:
    """Schemathesis (every check, authentication enforcement included) on the
    region paths of a broker with the API on, sqlite backend; the rest of the
    document is fuzzed by test_schema_fuzz.py on a broker with the API off."""
    api = api_brokers.get("sqlite", web_framework)
    # A region for the hooks' replaced path parameters to reach (schemathesis
    # may delete it: PUT creates it again as the run goes on).
    assert call(api.url, "PUT", one("FuzzOwner", "FuzzRegion"), headers=auth(),
                json_body=ocata()).status in (200, 201)
    config = tmp_path / "schemathesis.toml"
    config.write_text(FUZZ_CONFIG)
    junit = tmp_path / "junit.xml"
    schemathesis = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(schemathesis), "--config-file", str(config), "run", api.url + "/api/multicloud/v0/swagger.json",
         "--checks", "all", "--include-path-regex", "^/aai/",
         # The header, not --auth: the password is not Latin-1 and the broker
         # (as its challenge says) reads credentials as UTF-8.
         "--header", f"Authorization: {auth()['Authorization']}",
         "--max-examples", "40", "--generation-deterministic", "--workers", "1",
         "--request-timeout", "10", "--no-color",
         "--report", "junit", "--report-junit-path", str(junit)],
        capture_output=True, text=True, timeout=280, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.region_fuzz_hooks",
             "PYTHONPATH": str(REPO_ROOT)})
    report = done.stdout[-20000:] + done.stderr[-3000:]
    assert junit.exists(), report
    root = ET.parse(junit).getroot()
    cases = {case.get("name") for case in root.iter("testcase")}
    failed = [case.get("name") for case in root.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    assert failed == [] and done.returncode == 0, report
    assert cases - {"Stateful tests"} == {"GET " + LIST, "GET " + one("{cloud_owner}", "{cloud_region_id}"),
                     "PUT " + one("{cloud_owner}", "{cloud_region_id}"),
                     "DELETE " + one("{cloud_owner}", "{cloud_region_id}"),
                     "GET " + one("{cloud_owner}", "{cloud_region_id}") + "/{rest}"}, report


@pytest.mark.parametrize("body", [b"[" * 100000, b'{"a": ' * 50000 + b"1" + b"}" * 50000],
                         ids=["arrays", "objects"])
def test_json_nested_too_deeply_is_a_400(api: BrokerProcess, owner: str, body: bytes) -> None:
    reply = call(api.url, "PUT", one(owner, "R1"), body=body, headers=auth())
    assert "nested too deeply" in assert_json_error(reply, 400)
    assert_json_error(call(api.url, "GET", one(owner, "R1"), headers=auth()), 404)

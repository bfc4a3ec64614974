"""The unlucky and the hostile, on the real chain: Keystone down, slow or
refusing, tokens revoked or expiring, a cloud service that misbehaves on
purpose, paths that try to leave their scope, bodies over the limit, a
catalog without the service asked for. Every answer is the plugin's JSON
with the right status, naming what failed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from multicloud_broker.inventory.sqlite import SqliteInventory
from multicloud_broker.plugin.openstack.sessions import USER_AGENT
from tests.openstack_plugin.conftest import (Chain, region_record, start_chain)
from tests.support.client import request
from tests.support.openstack_sim import openstack_sim_process


# Short upstream timeouts, so that a hanging or trickling cloud is a 504 soon.
FAST = {"read_timeout": 3, "connect_timeout": 2, "total_timeout": 5}


@pytest.fixture(scope="module", params=["django", "pecan"])
def chain(request, tmp_path_factory, keystone, openstack_sim) -> Iterator[Chain]:
    made = start_chain(tmp_path_factory.mktemp(f"faults-{request.param}"), keystone,
                       openstack_sim, request.param, **FAST)
    yield made
    made.broker.stop()
    made.plugin.stop()


def call(chain: Chain, method: str, path: str, body: object = None, direct: bool = False):
    data = json.dumps(body).encode() if body is not None else None
    base = chain.plugin.url if direct else chain.broker.url
    if direct:
        path = path.replace("/api/multicloud/", "/api/multicloud-ocata/", 1)
    return request(base, method, path, body=data,
                   headers={"Content-Type": "application/json"} if data else None)


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (no client normalises it): status, body."""
    host, port = base.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def auth_requests(keystone) -> int:
    """Token requests the plugin made of Keystone (Keystone's access log;
    the simulator authenticates too, with another user agent)."""
    log = Path(keystone.workdir) / "access.log"
    return sum("POST /v3/auth/tokens" in line and USER_AGENT in line
               for line in log.read_text().splitlines())


@pytest.fixture
def own_chain(tmp_path, make_keystone) -> Iterator[Chain]:
    """A chain with a Keystone and a simulator of its own (to pause, to revoke)."""
    keystone = make_keystone(token_expiration=3600)
    with openstack_sim_process(tmp_path / "sim", keystone) as sim:
        chain = start_chain(tmp_path / "chain", keystone, sim, "pecan", **FAST)
        try:
            yield chain
        finally:
            chain.broker.stop()
            chain.plugin.stop()


def test_keystone_hanging_is_503_naming_identity_and_cached_tokens_go_on(
        own_chain: Chain) -> None:
    networks = own_chain.v0(f"{own_chain.tenant}/networks")
    assert call(own_chain, "GET", networks).status == 200  # a token, cached
    own_chain.keystone.pause()
    try:
        assert call(own_chain, "GET", networks).status == 200  # no Keystone needed
        reply = call(own_chain, "GET", own_chain.v0("tenants"))  # a new scope: Keystone
        assert reply.status == 503, reply
        assert "identity" in reply.json()["error"] and "acme/RegionOne" in reply.json()["error"]
    finally:
        own_chain.keystone.resume()
    assert call(own_chain, "GET", own_chain.v0("tenants")).status == 200


def test_keystone_down_is_503_naming_identity(own_chain: Chain) -> None:
    own_chain.keystone.stop()
    reply = call(own_chain, "GET", own_chain.v0("tenants"))
    assert reply.status == 503 and "identity" in reply.json()["error"], reply


def test_a_revoked_token_costs_one_authentication_and_no_failed_call(own_chain: Chain) -> None:
    networks = own_chain.v0(f"{own_chain.tenant}/networks")
    assert call(own_chain, "GET", networks).status == 200
    ks = own_chain.keystone
    # Setting the user's password (to the same value) revokes every token of the user.
    users = ks.admin_session().get(f"{ks.url}/users?name={ks.admin_user}").json()["users"]
    ks.admin_session().patch(f"{ks.url}/users/{users[0]['id']}",
                             json={"user": {"password": ks.admin_password}})
    own_chain.sim.flush_tokens()  # the simulator asks Keystone again, as services do
    # Keystone revokes tokens issued up to the event's second, a new one too.
    time.sleep(1.1)
    before = auth_requests(ks)
    for _ in range(3):
        reply = call(own_chain, "GET", networks)
        assert reply.status == 200, reply
    assert auth_requests(ks) - before == 1


def test_a_token_about_to_expire_is_renewed_before_it_fails(tmp_path, make_keystone) -> None:
    """keystoneauth renews a token with less than 120 s left: with 125 s tokens,
    the tokens of the first call (the region's own scope, checked first, and
    the tenant's) are renewed once 5 s have passed, each once."""
    keystone = make_keystone(token_expiration=125)
    with openstack_sim_process(tmp_path / "sim", keystone) as sim:
        chain = start_chain(tmp_path / "chain", keystone, sim, "django")
        try:
            networks = chain.v0(f"{chain.tenant}/networks")
            assert call(chain, "GET", networks).status == 200
            first = auth_requests(keystone)
            time.sleep(6)
            statuses = [call(chain, "GET", networks).status for _ in range(3)]
            assert statuses == [200, 200, 200]
            assert auth_requests(keystone) - first == 2
        finally:
            chain.broker.stop()
            chain.plugin.stop()


def test_a_wrong_password_names_the_region_and_storms_no_one(chain: Chain, tmp_path) -> None:
    inventory = SqliteInventory(str(chain.inventory))
    inventory.add(region_record(chain.keystone, "RegionBad", password="not-the-password"))
    before = auth_requests(chain.keystone)
    for _ in range(3):
        reply = call(chain, "GET", f"/api/multicloud/v0/acme_RegionBad/{chain.tenant}/networks")
        assert reply.status == 502, reply
        assert "acme/RegionBad" in reply.json()["error"]
        assert "credentials" in reply.json()["error"]
        assert "not-the-password" not in reply.body.decode()
    # One attempt in all: a refusal is remembered for a few seconds (REFUSED_FOR).
    assert auth_requests(chain.keystone) - before == 1
    logs = chain.plugin.stderr_path.read_text() + chain.plugin.stdout_path.read_text()
    assert "not-the-password" not in logs


def test_a_catalog_without_the_service_is_an_error_naming_it(chain: Chain) -> None:
    SqliteInventory(str(chain.inventory)).add(
        region_record(chain.keystone, "RegionNowhere", openstack_region="Atlantis"))
    reply = call(chain, "GET", f"/api/multicloud/v0/acme_RegionNowhere/{chain.tenant}/networks")
    assert reply.status == 502, reply
    assert "network" in reply.json()["error"] and "catalog" in reply.json()["error"]


@pytest.mark.parametrize("fault, status", [
    ({"kind": "status", "status": 500}, 502),
    ({"kind": "status", "status": 503}, 502),
    ({"kind": "garbage"}, 502),
    ({"kind": "truncate"}, 502),
    ({"kind": "reset", "count": None}, 502),  # once is retried: see below
    ({"kind": "hang", "seconds": 30}, 504),
    ({"kind": "trickle", "chunk": 1, "interval": 4}, 504),  # a gap over read_timeout
    ({"kind": "trickle", "chunk": 8, "interval": 0.5}, 504),  # steady, past total_timeout
])
def test_a_misbehaving_cloud_service_is_502_or_504(chain: Chain, fault: dict,
                                                   status: int) -> None:
    chain.sim.fault(service="network", path="/networks", **fault)
    try:
        reply = call(chain, "GET", chain.v0(f"{chain.tenant}/networks"))
        assert reply.status == status, reply
        assert "network" in reply.json()["error"]
    finally:
        chain.sim.clear_faults()
    assert call(chain, "GET", chain.v0(f"{chain.tenant}/networks")).status == 200


def test_a_reset_connection_is_tried_again_for_a_get_never_for_a_create(chain: Chain) -> None:
    """A kept-alive connection that the cloud closed while idle fails like a
    reset: a GET is sent once more (RFC 9112 9.3.1), a POST never is, so
    nothing is created twice."""
    chain.sim.fault("reset", service="network", path="/networks", method="GET")
    chain.sim.reset_counts()
    listed = call(chain, "GET", chain.v0(f"{chain.tenant}/networks"))
    assert listed.status == 200, listed
    assert chain.sim.count()["network"] == 2
    chain.sim.fault("reset", service="network", path="/networks", method="POST")
    name = "reset-once"
    # Sent again, the POST would succeed: the fault resets one request only.
    created = call(chain, "POST", chain.v0(f"{chain.tenant}/networks"),
                   {"name": name, "shared": False})
    assert created.status == 502 and "network" in created.json()["error"], created
    names = [n["name"] for n in call(chain, "GET", chain.v0(f"{chain.tenant}/networks"))
             .json()["networks"]]
    assert name not in names


@pytest.mark.parametrize("rest", [
    "network/v2.0/%2e%2e/%2e%2e/admin", "network/v2.0/networks/%2F..%2Fx",
    "compute/v2.1/servers/%252e%252e", "{tenant}/networks/%2e%2e",
    "{tenant}/networks/a%2Fb", "{tenant}/networks/..%5c..",
])
@pytest.mark.parametrize("direct", [False, True], ids=["via-broker", "to-plugin"])
def test_escaping_paths_are_400_and_nothing_is_sent(chain: Chain, rest: str,
                                                    direct: bool) -> None:
    chain.sim.reset_counts()
    path = chain.v0(rest.replace("{tenant}", chain.tenant))
    base = chain.plugin.url if direct else chain.broker.url
    if direct:
        path = path.replace("/api/multicloud/", "/api/multicloud-ocata/", 1)
    status, body = raw_get(base, path)
    assert status == 400, body
    assert "error" in json.loads(body)
    counts = chain.sim.count()
    assert counts.get("network", 0) == counts.get("compute", 0) == 0


def test_a_create_body_over_the_limit_is_413(chain: Chain) -> None:
    big = {"name": "x" * (2 << 20), "shared": False}
    reply = call(chain, "POST", chain.v0(f"{chain.tenant}/networks"), big)
    assert reply.status == 413, reply


def test_faults_answer_json_directly_from_the_plugin_too(chain: Chain) -> None:
    chain.sim.fault(service="network", path="/networks", kind="garbage")
    try:
        reply = call(chain, "GET", chain.v0(f"{chain.tenant}/networks"), direct=True)
    finally:
        chain.sim.clear_faults()
    assert reply.status == 502 and reply.header("Content-Type") == "application/json"


def test_a_tenant_the_user_may_not_use_is_404_not_a_credentials_error(chain: Chain) -> None:
    project = chain.keystone.add_project(f"locked-{time.monotonic_ns()}")  # admin has no role
    for tenant in (project, "0123456789abcdef0123456789abcdef"):
        reply = call(chain, "GET", chain.v0(f"{tenant}/networks"))
        assert reply.status == 404, reply
        assert tenant in reply.json()["error"] and "credentials" not in reply.json()["error"]

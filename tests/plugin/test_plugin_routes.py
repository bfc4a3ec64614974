"""The OpenStack plugin's route table and its pure helpers: which path goes
where, and how the identity proxy rewrites a token's catalog."""

from __future__ import annotations

import pytest

from multicloud_broker.plugin import identity
from multicloud_broker.plugin.routes import SERVICE_TYPES, match

P = "/api/multicloud-ocata"


@pytest.mark.parametrize("path, action, params", [
    (f"{P}/v0/swagger.json", "swagger", {"plugin": "multicloud-ocata"}),
    (f"{P}/v0/acme_Region_1/identity/v3/auth/tokens", "identity_v3", {"vimid": "acme_Region_1"}),
    (f"{P}/v1/acme/R1/identity/v2.0/tokens", "identity_v2",
     {"cloud_owner": "acme", "cloud_region_id": "R1"}),
    (f"{P}/v0/acme_R1/compute/v2.1/servers/detail", "proxy",
     {"service_type": "compute", "rest": "v2.1/servers/detail"}),
    (f"{P}/v0/acme_R1/volumev3", "proxy", {"service_type": "volumev3"}),
    (f"{P}/v0/acme_R1/tenants", "tenants", {"vimid": "acme_R1"}),
    (f"{P}/v0/acme_R1/0f1e2d/networks", "collection",
     {"tenantid": "0f1e2d", "resource": "networks"}),
    (f"{P}/v1/acme/R1/0f1e2d/servers/abc", "item",
     {"tenantid": "0f1e2d", "resource": "servers", "resource_id": "abc"}),
    ("/readyz", "readyz", {}),
])
def test_each_path_reaches_its_action(path: str, action: str, params: dict) -> None:
    route, found = match(path)
    assert route.action == action
    assert params.items() <= found.items()


def test_a_tenant_named_like_no_service_is_a_resource_call() -> None:
    route, found = match(f"{P}/v0/acme_R1/computer/networks")
    assert (route.action, found["tenantid"]) == ("collection", "computer")
    assert "computer" not in SERVICE_TYPES


def test_paths_outside_the_api_match_nothing() -> None:
    assert match("/api/multicloud-ocata/v2/acme_R1/tenants") is None
    assert match("/nothing") is None


def test_every_catalog_endpoint_points_through_the_broker() -> None:
    token = {"catalog": [
        {"type": "compute", "endpoints": [
            {"interface": "public", "region_id": "RegionOne",
             "url": "http://10.0.0.5:8774/v2.1"}]},
        {"type": "volumev3", "endpoints": [
            {"interface": "public", "url": "https://cinder.example:8776/v3/5f0a/"}]},
        {"type": "identity", "endpoints": [{"interface": "public", "url": "http://ks:5000/v3"}]},
        {"type": "odd", "endpoints": [{"interface": "public", "url": None}, "junk"]},
    ]}
    identity.rewrite_v3_catalog(token, "http://msb:80/", "v0/acme_R1")
    urls = [e["url"] for s in token["catalog"] for e in s["endpoints"] if isinstance(e, dict)]
    assert urls == ["http://msb:80/api/multicloud/v0/acme_R1/compute/v2.1",
                    "http://msb:80/api/multicloud/v0/acme_R1/volumev3/v3/5f0a",
                    "http://msb:80/api/multicloud/v0/acme_R1/identity/v3", None]


def test_a_v2_token_request_becomes_v3_and_the_answer_v2() -> None:
    v3 = identity.v3_auth_of_v2({"auth": {"tenantName": "demo", "passwordCredentials": {
        "username": "u", "password": "p%\"ü"}}})
    assert v3["auth"]["identity"]["password"]["user"]["password"] == "p%\"ü"
    assert v3["auth"]["scope"]["project"]["name"] == "demo"
    access = identity.v2_access("tok", {
        "expires_at": "2026-12-07T03:00:00Z", "project": {"id": "p1", "name": "demo"},
        "user": {"id": "u1", "name": "u"}, "roles": [{"name": "member"}],
        "catalog": [{"type": "compute", "name": "nova", "endpoints": [
            {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
             "url": "http://b/c"},
            {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne",
             "url": "http://b/i"}]}]})["access"]
    assert access["token"]["id"] == "tok" and access["token"]["tenant"]["id"] == "p1"
    assert access["serviceCatalog"] == [{"type": "compute", "name": "nova", "endpoints": [
        {"region": "RegionOne", "publicURL": "http://b/c", "internalURL": "http://b/i"}]}]


@pytest.mark.parametrize("body", [None, [], {"auth": {}}, {"auth": {"passwordCredentials": {
    "username": "u"}}}, {"auth": {"passwordCredentials": {"username": 1, "password": "p"}}}])
def test_a_malformed_v2_token_request_is_refused(body) -> None:
    from multicloud_broker.core.errors import BadRequest
    with pytest.raises(BadRequest):
        identity.v3_auth_of_v2(body)

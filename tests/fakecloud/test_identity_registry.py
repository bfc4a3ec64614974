"""Tokens, registration and the paths the simulated cloud does not have."""

from fakecloud_support import Region


def test_token_is_issued_in_header_and_body(fakecloud):
    region = Region(fakecloud)
    resp = fakecloud.request("POST", region.v0 + "/identity/v3/auth/tokens", {
        "auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "vnfm", "password": "x"}}}}})
    assert resp.status == 201
    assert resp.headers["X-Subject-Token"]
    token = resp.json()["token"]
    assert token["user"]["name"] == "vnfm"
    assert token["project"]["name"] == "admin"
    assert token["expires_at"].endswith("Z")


def test_calls_without_a_valid_token_are_refused(fakecloud):
    region = Region(fakecloud)
    resp = fakecloud.request("GET", region.v0 + "/tenants")
    assert resp.status == 401
    assert "X-Auth-Token" in resp.json()["error"]
    resp = fakecloud.request("GET", region.v0 + "/tenants", token="not-a-token")
    assert resp.status == 401


def test_token_is_valid_for_its_region_only_under_both_api_versions(fakecloud):
    region = Region(fakecloud).login()
    assert region.get(region.v1 + "/tenants").status == 200
    other = Region(fakecloud)
    resp = fakecloud.request("GET", other.v0 + "/tenants", token=region.token)
    assert resp.status == 401


def test_token_scoped_to_an_unknown_project_is_refused(fakecloud):
    region = Region(fakecloud)
    resp = fakecloud.request("POST", region.v0 + "/identity/v3/auth/tokens",
                             {"auth": {"scope": {"project": {"name": "nope"}}}})
    assert resp.status == 401


def test_token_scoped_to_a_project_by_name(fakecloud):
    region = Region(fakecloud)
    resp = fakecloud.request("POST", region.v0 + "/identity/v3/auth/tokens",
                             {"auth": {"scope": {"project": {"name": "demo"}}}})
    assert resp.status == 201
    assert resp.json()["token"]["project"]["name"] == "demo"


def test_registry_needs_default_tenant(fakecloud):
    region = Region(fakecloud)
    resp = fakecloud.request("POST", region.v0 + "/registry", {})
    assert resp.status == 400
    assert "defaultTenant" in resp.json()["error"]
    resp = fakecloud.request("POST", region.v0 + "/registry", raw=b"{not json",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "JSON" in resp.json()["error"]


def test_register_then_unregister(fakecloud):
    region = Region(fakecloud)
    assert fakecloud.request("GET", region.v1 + "/registry").status == 404
    resp = fakecloud.request("POST", region.v1 + "/registry", {"defaultTenant": "VoLTE"})
    assert resp.status == 202
    status = fakecloud.request("GET", region.v0 + "/registry")
    assert status.status == 200
    assert status.json()["defaultTenant"] == "VoLTE"
    # The default tenant now exists and is the one tokens are scoped to.
    login = fakecloud.request("POST", region.v0 + "/identity/v3/auth/tokens")
    assert login.json()["token"]["project"]["name"] == "VoLTE"

    assert fakecloud.request("DELETE", region.v0).status == 204
    assert fakecloud.request("GET", region.v0 + "/registry").status == 404
    # Unregistering revokes the region's tokens.
    token = login.headers["X-Subject-Token"]
    assert fakecloud.request("GET", region.v0 + "/tenants", token=token).status == 401


def test_unknown_paths_and_methods(fakecloud):
    region = Region(fakecloud).login()
    resp = region.get("/api/multicloud-ocata/v0/nounderscore/tenants")
    assert resp.status == 404
    assert "error" in resp.json()
    assert region.get(region.v0 + "/nothing/here/at/all").status == 404
    resp = region.call("PUT", region.v0 + "/registry", {})
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET, POST"
    # infra_workload is API v1 only.
    assert region.post(region.v0 + "/infra_workload", {}).status == 404


def test_any_plugin_name_reaches_the_same_region(fakecloud):
    region = Region(fakecloud).login()
    path = region.v0.replace("multicloud-ocata", "multicloud-pike") + "/tenants"
    resp = region.get(path)
    assert resp.status == 200
    assert {t["name"] for t in resp.json()["tenants"]} >= {"admin", "demo"}

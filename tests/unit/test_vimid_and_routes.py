import pytest

from multicloud_broker.core.errors import NotFound
from multicloud_broker.core.routes import ROUTES, match
from multicloud_broker.core.vimid import make_vim_id, parse_vim_id


@pytest.mark.parametrize("vim_id, parts", [
    ("owner1_region1", ("owner1", "region1")),
    ("CloudOwner_RegionOne_a", ("CloudOwner", "RegionOne_a")),  # split at the first _
    ("my-owner_my-region", ("my-owner", "my-region")),
])
def test_vim_id_splits_at_first_underscore(vim_id, parts):
    assert parse_vim_id(vim_id) == parts


@pytest.mark.parametrize("vim_id", ["noseparator", "_region", "owner_", "own er_r", "o_r/x"])
def test_malformed_vim_id_is_not_found(vim_id):
    with pytest.raises(NotFound) as caught:
        parse_vim_id(vim_id)
    assert vim_id in caught.value.message


def test_make_vim_id_rejects_an_owner_with_underscore():
    assert make_vim_id("owner", "region_1") == "owner_region_1"
    with pytest.raises(NotFound):
        make_vim_id("own_er", "region")


@pytest.mark.parametrize("path, template, params", [
    ("/api/multicloud/v0/vim_types", "v0/vim_types", {}),
    ("/api/multicloud/v1/vim_types/", "v1/vim_types", {}),
    ("/api/multicloud/v0/swagger.json", "v0/swagger.json", {}),
    ("/api/multicloud/v0/o_r", "v0/{vimid}", {"vimid": "o_r"}),
    ("/api/multicloud/v0/o_r/registry", "v0/{vimid}/registry", {"vimid": "o_r"}),
    ("/api/multicloud/v0/o_r/identity/v3/auth/tokens",
     "v0/{vimid}/identity/v3/auth/tokens", {"vimid": "o_r"}),
    ("/api/multicloud/v0/o_r/t1/servers/s1", "v0/{vimid}/{rest:path}",
     {"vimid": "o_r", "rest": "t1/servers/s1"}),
    ("/api/multicloud/v1/o/r/infra_workload", "v1/{cloud_owner}/{cloud_region_id}/infra_workload",
     {"cloud_owner": "o", "cloud_region_id": "r"}),
    ("/api/multicloud/v1/o/r/infra_workload/w1",
     "v1/{cloud_owner}/{cloud_region_id}/infra_workload/{rest:path}",
     {"cloud_owner": "o", "cloud_region_id": "r", "rest": "w1"}),
])
def test_paths_match_their_route(path, template, params):
    route, found = match(path)
    assert route.template == template
    assert found == params


@pytest.mark.parametrize("path", ["/api/multicloud/", "/api/multicloud/v2/vim_types",
                                  "/api/other/v0/vim_types", "/"])
def test_unknown_paths_match_nothing(path):
    assert match(path) is None


def test_method_table_of_api_md():
    allowed = {r.template: set(r.methods) for r in ROUTES}
    assert allowed["v0/{vimid}"] == {"DELETE"}
    assert allowed["v0/{vimid}/registry"] == {"GET", "POST"}
    assert allowed["v0/{vimid}/extensions"] == {"GET"}
    assert allowed["v0/{vimid}/{rest:path}"] == {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
    assert allowed["v1/{cloud_owner}/{cloud_region_id}/infra_workload"] == {"GET", "POST", "DELETE"}

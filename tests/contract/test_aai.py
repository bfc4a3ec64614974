"""Inventory look-ups in A&AI (API.md, "Inventory lookups (ONAP A&AI)")."""

from __future__ import annotations

import pytest

from tests.support.broker import BrokerProcess
from tests.support.contract import assert_json_error, call
from tests.support.regions import DASHED, K8S, MISSING, NEWTON, OCATA, PIKE, Region
from tests.support.upstreams import AAIServer, PluginServer

from tests.contract.settings import AAI_PASSWORD, AAI_SCHEMA, AAI_USER


def _aai_path(region: Region) -> str:
    return (f"/aai/{AAI_SCHEMA}/cloud-infrastructure/cloud-regions/cloud-region/"
            f"{region.owner}/{region.region}")


def test_aai_request_shape(aai_broker: BrokerProcess, aai: AAIServer,
                           plugin: PluginServer) -> None:
    reply = call(aai_broker.url, "GET", OCATA.v0 + "/tenants")
    assert reply.status == 200, reply
    seen = aai.requests_to(_aai_path(OCATA))
    assert seen, [r.target for r in aai.requests]
    lookup = seen[-1]
    assert lookup.method == "GET"
    assert aai.basic_auth(lookup) == (AAI_USER, AAI_PASSWORD)
    assert lookup.headers.get("X-FromAppId") == "MultiCloud"
    assert lookup.headers.get("X-TransactionId")
    assert "application/json" in (lookup.headers.get("Accept") or "")


def test_aai_transaction_ids_are_not_a_constant(aai_broker: BrokerProcess,
                                                aai: AAIServer) -> None:
    for txn in ("txn-a", "txn-b"):
        reply = call(aai_broker.url, "GET", PIKE.v0 + "/tenants",
                     headers={"X-TransactionID": txn})
        assert reply.status == 200, reply
    ids = [r.headers.get("X-TransactionId") for r in aai.requests_to(_aai_path(PIKE))]
    assert len(ids) >= 2 and all(ids) and len(set(ids)) == len(ids), ids


@pytest.mark.parametrize("region", [OCATA, PIKE, NEWTON, DASHED], ids=lambda r: r.region)
@pytest.mark.parametrize("api", ["v0", "v1"])
def test_aai_region_type_and_version_choose_the_plugin(
        aai_broker: BrokerProcess, aai: AAIServer, plugin: PluginServer, region: Region,
        api: str) -> None:
    base, plugin_base = ((region.v0, region.plugin_v0) if api == "v0"
                         else (region.v1, region.plugin_v1))
    reply = call(aai_broker.url, "GET", base + "/t1/servers?limit=1")
    assert reply.status == 200, reply
    assert reply.json()["path"] == plugin_base + "/t1/servers"
    assert aai.requests_to(_aai_path(region))


def test_region_unknown_to_aai_is_404_naming_it(aai_broker: BrokerProcess, aai: AAIServer,
                                                plugin: PluginServer) -> None:
    message = assert_json_error(call(aai_broker.url, "GET", MISSING.v0 + "/tenants"), 404)
    assert MISSING.owner in message and MISSING.region in message, message
    assert aai.requests_to(_aai_path(MISSING))
    assert plugin.requests == []


def test_aai_type_not_in_catalog_is_404(aai_broker: BrokerProcess,
                                        plugin: PluginServer) -> None:
    assert_json_error(call(aai_broker.url, "GET", K8S.v1 + "/tenants"), 404)
    assert plugin.requests == []


def test_capacity_check_with_aai_inventory(aai_broker: BrokerProcess, aai: AAIServer,
                                           plugin: PluginServer) -> None:
    plugin.answer_capacity(OCATA.plugin_v0 + "/capacity_check", True)
    plugin.answer_capacity(PIKE.plugin_v0 + "/capacity_check", False)
    reply = call(aai_broker.url, "POST", "/api/multicloud/v0/check_vim_capacity",
                 json_body={"vCPU": 1, "Memory": 1, "Storage": 1,
                            "VIMs": [PIKE.vim_id, MISSING.vim_id, OCATA.vim_id]})
    assert reply.json() == {"VIMs": [OCATA.vim_id]}, reply
    assert aai.requests_to(_aai_path(OCATA)) and aai.requests_to(_aai_path(MISSING))


def test_aai_esr_system_info_list_is_asked_with_the_same_identity(
        aai_broker: BrokerProcess, aai: AAIServer) -> None:
    """The cloud's access (esr-system-info-list) is a second GET of the found
    region, with the same credentials and transaction id; a region unknown to
    A&AI costs no second GET."""
    reply = call(aai_broker.url, "GET", OCATA.v1 + "/tenants", headers={"X-TransactionID":
                                                                        "txn-esr"})
    assert reply.status == 200, reply
    lookups = [r for r in aai.requests if r.headers.get("X-TransactionId") == "txn-esr"]
    assert [r.path for r in lookups] == [_aai_path(OCATA),
                                         _aai_path(OCATA) + "/esr-system-info-list"]
    assert all(aai.basic_auth(r) == (AAI_USER, AAI_PASSWORD) for r in lookups)
    call(aai_broker.url, "GET", MISSING.v1 + "/tenants")
    assert not aai.requests_to(_aai_path(MISSING) + "/esr-system-info-list")

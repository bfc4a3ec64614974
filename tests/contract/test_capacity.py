"""POST v0/check_vim_capacity and v1/check_vim_capacity (API.md, first table)."""

from __future__ import annotations

import json

import pytest

from tests.support.broker import BrokerProcess
from tests.support.contract import assert_json_error, call
from tests.support.regions import (AZURE, DASHED, K8S, MISSING, NEWTON, OCATA, PIKE, STARLINGX,
                                   TITANIUM, UNDERSCORED, VIO, VSPHERE, Region)
from tests.support.upstreams import PluginServer

V0 = "/api/multicloud/v0/check_vim_capacity"
V1 = "/api/multicloud/v1/check_vim_capacity"
NEED = {"vCPU": 4, "Memory": 2048.5, "Storage": 40}


def cap0(region: Region) -> str:
    return f"{region.plugin_v0}/capacity_check"


def cap1(region: Region) -> str:
    return f"{region.plugin_v1}/capacity_check"


def test_v0_answers_vims_that_say_yes_in_request_order(broker: BrokerProcess,
                                                      plugin: PluginServer) -> None:
    for region in (PIKE, OCATA, DASHED, UNDERSCORED):
        plugin.answer_capacity(cap0(region), True)
    plugin.answer_capacity(cap0(VIO), False)
    plugin.respond(cap0(TITANIUM), drop=True)  # unreachable: closes without answering
    plugin.respond(cap0(STARLINGX), status=500, json_body={"result": True})  # not a 200
    plugin.respond(cap0(VSPHERE), status=200, body=b"<html>yes</html>")  # not JSON
    plugin.respond(cap0(AZURE), status=200, json_body={"AZs": []})  # no result
    asked = [PIKE, VIO, MISSING, OCATA, TITANIUM, K8S, STARLINGX, VSPHERE, AZURE,
             UNDERSCORED, DASHED]
    reply = call(broker.url, "POST", V0,
                 json_body={**NEED, "VIMs": [r.vim_id for r in asked]})
    assert reply.status == 200, reply
    assert reply.content_type == "application/json"
    assert reply.json() == {"VIMs": [PIKE.vim_id, OCATA.vim_id, UNDERSCORED.vim_id,
                                     DASHED.vim_id]}


def test_v0_sends_the_requirements_to_each_plugin(broker: BrokerProcess,
                                                 plugin: PluginServer) -> None:
    plugin.answer_capacity(cap0(OCATA), True)
    plugin.answer_capacity(cap0(PIKE), False)
    reply = call(broker.url, "POST", V0, json_body={**NEED, "VIMs": [OCATA.vim_id, PIKE.vim_id]})
    assert reply.json() == {"VIMs": [OCATA.vim_id]}, reply
    for region in (OCATA, PIKE):
        [seen] = plugin.requests_to(cap0(region))
        assert seen.method == "POST"
        assert seen.json() == NEED


def test_v0_missing_requirements_are_sent_as_zero(broker: BrokerProcess,
                                                 plugin: PluginServer) -> None:
    plugin.answer_capacity(cap0(OCATA), True)
    plugin.answer_capacity(cap0(PIKE), True)
    reply = call(broker.url, "POST", V0, json_body={"vCPU": 2, "VIMs": [OCATA.vim_id]})
    assert reply.json() == {"VIMs": [OCATA.vim_id]}, reply
    assert plugin.requests_to(cap0(OCATA))[0].json() == {"vCPU": 2, "Memory": 0, "Storage": 0}
    reply = call(broker.url, "POST", V0, json_body={"VIMs": [PIKE.vim_id]})
    assert reply.json() == {"VIMs": [PIKE.vim_id]}, reply
    assert plugin.requests_to(cap0(PIKE))[0].json() == {"vCPU": 0, "Memory": 0, "Storage": 0}


def test_v0_version_not_in_catalog_asks_the_default_plugin(broker: BrokerProcess,
                                                          plugin: PluginServer) -> None:
    plugin.answer_capacity(cap0(NEWTON), True)
    reply = call(broker.url, "POST", V0, json_body={**NEED, "VIMs": [NEWTON.vim_id]})
    assert reply.json() == {"VIMs": [NEWTON.vim_id]}, reply
    assert cap0(NEWTON).startswith("/api/multicloud-ocata/")


def test_v0_empty_vim_list(broker: BrokerProcess) -> None:
    reply = call(broker.url, "POST", V0, json_body={**NEED, "VIMs": []})
    assert reply.status == 200, reply
    assert reply.json() == {"VIMs": []}


def test_v0_slow_vims_are_asked_concurrently(broker: BrokerProcess,
                                            plugin: PluginServer) -> None:
    # Each takes 1 s; the fan-out's overall bound is 3 s: asked one after another,
    # the last ones would be cut off. Asked concurrently, all answer.
    slow = [OCATA, PIKE, TITANIUM, STARLINGX]
    for region in slow:
        plugin.answer_capacity(cap0(region), True, delay=1.0)
    reply = call(broker.url, "POST", V0, json_body={**NEED, "VIMs": [r.vim_id for r in slow]})
    assert reply.json() == {"VIMs": [r.vim_id for r in slow]}, reply


def test_v0_vim_slower_than_the_bound_is_left_out(broker: BrokerProcess,
                                                 plugin: PluginServer) -> None:
    plugin.answer_capacity(cap0(OCATA), True, delay=6.0)
    plugin.answer_capacity(cap0(PIKE), True)
    reply = call(broker.url, "POST", V0, json_body={**NEED, "VIMs": [OCATA.vim_id, PIKE.vim_id]})
    assert reply.status == 200, reply
    assert reply.json() == {"VIMs": [PIKE.vim_id]}


BAD_V0_BODIES = [
    pytest.param(b"this is not json", id="not-json"),
    pytest.param(b"", id="empty"),
    pytest.param(b'{"vCPU": 1, "VIMs": ["a_b"]', id="truncated-json"),
    pytest.param(b'[1, 2]', id="json-list"),
    pytest.param(b'"text"', id="json-string"),
    pytest.param(b'{"vCPU": 1, "VIMs": "CloudOwner_RegionOcata"}', id="vims-not-list"),
    pytest.param(b'{"vCPU": 1, "VIMs": [1, 2]}', id="vim-not-string"),
    pytest.param(b'{"vCPU": "two", "VIMs": ["CloudOwner_RegionOcata"]}', id="vcpu-text"),
    pytest.param(b'{"Memory": "lots", "VIMs": ["CloudOwner_RegionOcata"]}', id="memory-text"),
    pytest.param(b'{"Storage": [1], "VIMs": ["CloudOwner_RegionOcata"]}', id="storage-list"),
]


@pytest.mark.parametrize("body", BAD_V0_BODIES)
def test_v0_bad_body_is_400(broker: BrokerProcess, plugin: PluginServer, body: bytes) -> None:
    reply = call(broker.url, "POST", V0, body=body,
                 headers={"Content-Type": "application/json"})
    assert_json_error(reply, 400)
    assert not [r for r in plugin.requests if r.path.endswith("/capacity_check")]


def test_v1_answers_objects_with_azs(broker: BrokerProcess, plugin: PluginServer) -> None:
    azs = [{"availability-zone-name": "az1", "vCPUAvail": 8, "MemoryAvail": 4096,
            "StorageAvail": 100},
           {"availability-zone-name": "az2", "vCPUAvail": 2, "MemoryAvail": 1024,
            "StorageAvail": 10}]
    plugin.answer_capacity(cap1(PIKE), True, azs=azs)
    plugin.answer_capacity(cap1(OCATA), True)  # no AZs in the answer: []
    plugin.answer_capacity(cap1(VIO), False, azs=azs)
    plugin.respond(cap1(TITANIUM), drop=True)
    asked = [PIKE.v1_ref, VIO.v1_ref, MISSING.v1_ref, TITANIUM.v1_ref, K8S.v1_ref,
             {**OCATA.v1_ref, "note": "kept as sent"}]
    reply = call(broker.url, "POST", V1, json_body={**NEED, "VIMs": asked})
    assert reply.status == 200, reply
    assert reply.content_type == "application/json"
    # Each answered VIM is the request's object plus "AZs".
    assert reply.json() == {"VIMs": [{**PIKE.v1_ref, "AZs": azs},
                                     {**OCATA.v1_ref, "note": "kept as sent", "AZs": []}]}


def test_v1_sends_requirements_to_the_v1_plugin_path(broker: BrokerProcess,
                                                    plugin: PluginServer) -> None:
    plugin.answer_capacity(cap1(UNDERSCORED), True)
    plugin.answer_capacity(cap1(DASHED), True)
    reply = call(broker.url, "POST", V1,
                 json_body={"Memory": 512, "VIMs": [DASHED.v1_ref, UNDERSCORED.v1_ref]})
    assert reply.json() == {"VIMs": [{**DASHED.v1_ref, "AZs": []},
                                     {**UNDERSCORED.v1_ref, "AZs": []}]}, reply
    assert cap1(UNDERSCORED) == "/api/multicloud-pike/v1/CloudOwner/Region_Under_Score/capacity_check"
    for region in (DASHED, UNDERSCORED):
        [seen] = plugin.requests_to(cap1(region))
        assert seen.method == "POST"
        assert seen.json() == {"vCPU": 0, "Memory": 512, "Storage": 0}


def test_v1_slow_vims_are_asked_concurrently(broker: BrokerProcess,
                                            plugin: PluginServer) -> None:
    slow = [OCATA, PIKE, TITANIUM, STARLINGX]
    for region in slow:
        plugin.answer_capacity(cap1(region), True, azs=[{"availability-zone-name": region.region}],
                               delay=1.0)
    reply = call(broker.url, "POST", V1, json_body={**NEED, "VIMs": [r.v1_ref for r in slow]})
    assert reply.json() == {"VIMs": [
        {**r.v1_ref, "AZs": [{"availability-zone-name": r.region}]} for r in slow]}, reply


BAD_V1_BODIES = [
    pytest.param(b"<xml/>", id="not-json"),
    pytest.param(b'{"vCPU": 1, "VIMs": ["CloudOwner_RegionOcata"]}', id="v0-style-vims"),
    pytest.param(b'{"vCPU": 1, "VIMs": [{"cloud-owner": "CloudOwner"}]}', id="no-region-id"),
    pytest.param(b'{"vCPU": 1, "VIMs": [{"cloud-region-id": "RegionOcata"}]}', id="no-owner"),
    pytest.param(b'{"vCPU": 1, "VIMs": {"cloud-owner": "a", "cloud-region-id": "b"}}',
                 id="vims-object"),
    pytest.param(b'{"vCPU": "many", "VIMs": []}', id="vcpu-text"),
]


@pytest.mark.parametrize("body", BAD_V1_BODIES)
def test_v1_bad_body_is_400(broker: BrokerProcess, plugin: PluginServer, body: bytes) -> None:
    reply = call(broker.url, "POST", V1, body=body,
                 headers={"Content-Type": "application/json"})
    assert_json_error(reply, 400)
    assert not [r for r in plugin.requests if r.path.endswith("/capacity_check")]


def test_capacity_request_body_is_json_to_the_plugin(broker: BrokerProcess,
                                                    plugin: PluginServer) -> None:
    plugin.answer_capacity(cap0(OCATA), True)
    call(broker.url, "POST", V0, json_body={**NEED, "VIMs": [OCATA.vim_id]})
    [seen] = plugin.requests_to(cap0(OCATA))
    assert "json" in seen.headers.get("Content-Type", "")
    assert json.loads(seen.body) == NEED

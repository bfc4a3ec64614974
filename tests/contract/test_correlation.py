"""Request correlation (API.md, "Request correlation (beyond)")."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.broker import BrokerProcess
from tests.support.contract import call
from tests.support.regions import MISSING, OCATA
from tests.support.upstreams import PluginServer


def test_transaction_id_passed_to_plugin_and_returned(broker: BrokerProcess,
                                                      plugin: PluginServer) -> None:
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/servers",
                 headers={"X-TransactionID": "txn-0123-abcd"})
    assert reply.status == 200, reply
    assert reply.header("X-TransactionID") == "txn-0123-abcd"
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/t1/servers")
    assert seen.headers.get_all("X-TransactionID") == ["txn-0123-abcd"]


def test_transaction_id_generated_when_absent(broker: BrokerProcess,
                                              plugin: PluginServer) -> None:
    first = call(broker.url, "POST", OCATA.v0 + "/registry", json_body={})
    second = call(broker.url, "POST", OCATA.v0 + "/registry", json_body={})
    assert first.status == second.status == 200
    ids = [first.header("X-TransactionID"), second.header("X-TransactionID")]
    assert all(ids) and ids[0] != ids[1], ids
    seen = plugin.requests_to(OCATA.plugin_v0 + "/registry", "POST")
    assert [r.headers.get("X-TransactionID") for r in seen] == ids


def test_onap_request_id_passed_to_plugin(broker: BrokerProcess, plugin: PluginServer) -> None:
    reply = call(broker.url, "DELETE", OCATA.v1 + "/infra_workload/w1",
                 headers={"X-ONAP-RequestID": "req-42", "X-ONAP-InvocationID": "inv-7",
                          "X-ONAP-PartnerName": "SO", "X-TransactionID": "txn-9"})
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(OCATA.plugin_v1 + "/infra_workload/w1")
    assert seen.headers.get("X-ONAP-RequestID") == "req-42"
    assert seen.headers.get("X-ONAP-InvocationID") == "inv-7"
    assert seen.headers.get("X-ONAP-PartnerName") == "SO"
    assert seen.headers.get("X-TransactionID") == "txn-9"


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/multicloud/v0/vim_types"),
    ("GET", "/api/multicloud/v1/swagger.json"),
    ("POST", "/api/multicloud/v0/vim_types"),
    ("GET", MISSING.v0 + "/tenants"),
    ("GET", "/api/multicloud/v0/no-such-thing"),
], ids=["vim_types", "swagger", "405", "unknown-region", "unknown-path"])
def test_broker_own_answers_carry_the_transaction_id(broker: BrokerProcess, method: str,
                                                     path: str) -> None:
    reply = call(broker.url, method, path, headers={"X-TransactionID": "txn-local-1"})
    assert reply.header("X-TransactionID") == "txn-local-1", reply
    generated = call(broker.url, method, path)
    assert generated.header("X-TransactionID"), generated


def test_capacity_fan_out_carries_the_transaction_id(broker: BrokerProcess,
                                                     plugin: PluginServer) -> None:
    path = OCATA.plugin_v0 + "/capacity_check"
    plugin.answer_capacity(path, True)
    reply = call(broker.url, "POST", "/api/multicloud/v0/check_vim_capacity",
                 json_body={"VIMs": [OCATA.vim_id]}, headers={"X-TransactionID": "txn-cap"})
    assert reply.json() == {"VIMs": [OCATA.vim_id]}, reply
    assert reply.header("X-TransactionID") == "txn-cap"
    assert plugin.requests_to(path)[0].headers.get("X-TransactionID") == "txn-cap"


def test_transaction_id_is_logged(broker: BrokerProcess, plugin: PluginServer) -> None:
    txn = f"txn-log-{uuid.uuid4().hex}"
    assert call(broker.url, "GET", OCATA.v0 + "/t1/networks",
                headers={"X-TransactionID": txn}).status == 200
    deadline = time.monotonic() + 5
    while txn not in broker.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert txn in broker.output()

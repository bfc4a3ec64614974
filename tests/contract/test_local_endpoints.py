"""Endpoints the broker answers itself: vim_types and swagger.json (API.md, first table)."""

from __future__ import annotations

import pytest

from tests.support.broker import BrokerProcess
from tests.support.contract import assert_json_error, call
from tests.support.regions import DEFAULT_VIM_TYPES


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_vim_types_lists_the_default_catalog(broker: BrokerProcess, version: str) -> None:
    reply = call(broker.url, "GET", f"/api/multicloud/{version}/vim_types")
    assert reply.status == 200, reply
    assert reply.content_type == "application/json"
    assert reply.json() == DEFAULT_VIM_TYPES


@pytest.mark.parametrize("version", ["v0", "v1"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_vim_types_other_methods_are_405(broker: BrokerProcess, version: str,
                                        method: str) -> None:
    reply = call(broker.url, method, f"/api/multicloud/{version}/vim_types",
                 json_body={"vim_type": "x"} if method != "DELETE" else None)
    assert_json_error(reply, 405)
    assert "GET" in reply.allow(), reply
    assert method not in reply.allow(), reply


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_swagger_json_is_a_swagger_2_document(broker: BrokerProcess, version: str) -> None:
    reply = call(broker.url, "GET", f"/api/multicloud/{version}/swagger.json")
    assert reply.status == 200, reply
    assert reply.content_type == "application/json"
    doc = reply.json()
    assert doc["swagger"] == "2.0"
    assert isinstance(doc.get("info"), dict)
    paths = doc["paths"]
    assert isinstance(paths, dict) and paths
    assert any("vim_types" in p for p in paths), sorted(paths)
    assert any("check_vim_capacity" in p for p in paths), sorted(paths)
    assert any("registry" in p for p in paths), sorted(paths)


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_check_vim_capacity_other_methods_are_405(broker: BrokerProcess,
                                                 version: str) -> None:
    reply = call(broker.url, "GET", f"/api/multicloud/{version}/check_vim_capacity")
    assert_json_error(reply, 405)
    assert "POST" in reply.allow(), reply
    assert "GET" not in reply.allow(), reply

"""The broker's own errors (API.md, "Errors" and step 6 of forwarding)."""

from __future__ import annotations

import os

import pytest

from tests.support.broker import BrokerProcess
from tests.support.contract import assert_json_error, call
from tests.support.regions import OCATA, PIKE
from tests.support.upstreams import AAIServer, PluginServer

from tests.contract.settings import PLUGIN_READ_TIMEOUT, SMALL_BODY_LIMIT

UNKNOWN_PATHS = [
    "/api/multicloud/",
    "/api/multicloud/nothing",
    "/api/multicloud/v2/vim_types",
    "/api/multicloud/v0",
    "/api/multicloud/v0/",
    "/api/multicloud/v1/CloudOwner",
    "/api/multicloud/v0/swagger.yaml/x/y",
    "/api/multicloud/v1/vim_types/extra/deep/path",
    "/",
    "/api",
    # Paths that Pecan's object walk would follow into the root controller's
    # own attributes and class.
    "/broker/catalog",
    "/__class__/x",
    "/_default",
]


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_paths_are_json_404(broker: BrokerProcess, plugin: PluginServer, path: str,
                                    method: str) -> None:
    reply = call(broker.url, method, path, body=b"{}" if method == "POST" else None)
    assert_json_error(reply, 404)
    assert b"<html" not in reply.body.lower()
    assert plugin.requests == []


def test_body_over_limit_is_413(faults_broker: BrokerProcess, plugin: PluginServer) -> None:
    body = os.urandom(SMALL_BODY_LIMIT + 1024)
    reply = call(faults_broker.url, "POST", PIKE.v0 + "/t1/images/too-big", body=body,
                 headers={"Content-Type": "application/octet-stream"})
    assert_json_error(reply, 413)
    assert not [r for r in plugin.requests if len(r.body) >= len(body)]


def test_chunked_body_over_limit_is_413(faults_broker: BrokerProcess,
                                        plugin: PluginServer) -> None:
    # No Content-Length to check up front: the limit must hold for streamed bodies too,
    # and the plugin must never be handed a cut-off body as if it were complete.
    body = os.urandom(SMALL_BODY_LIMIT + 64 * 1024)
    pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    path = "/t1/images/chunked-too-big"
    reply = call(faults_broker.url, "POST", PIKE.v0 + path, body=pieces,  # type: ignore[arg-type]
                 headers={"Content-Type": "application/octet-stream"}, chunked=True)
    assert_json_error(reply, 413)
    completed = plugin.wait_for(PIKE.plugin_v0 + path, timeout=2.0)
    assert completed == [], [f"plugin got a complete request of {len(r.body)} bytes"
                             for r in completed]


def test_capacity_body_over_limit_is_413(faults_broker: BrokerProcess) -> None:
    body = b'{"VIMs": [], "pad": "' + b"x" * (SMALL_BODY_LIMIT + 10) + b'"}'
    reply = call(faults_broker.url, "POST", "/api/multicloud/v0/check_vim_capacity", body=body,
                 headers={"Content-Type": "application/json"})
    assert_json_error(reply, 413)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_under_limit_is_forwarded(faults_broker: BrokerProcess, plugin: PluginServer,
                                       chunked: bool) -> None:
    body = os.urandom(SMALL_BODY_LIMIT - 1024)
    sent = [body[:500_000], body[500_000:]] if chunked else body
    path = f"/t1/images/fits-{int(chunked)}"
    reply = call(faults_broker.url, "POST", PIKE.v0 + path, body=sent,  # type: ignore[arg-type]
                 headers={"Content-Type": "application/octet-stream"}, chunked=chunked)
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(PIKE.plugin_v0 + path)
    assert seen.body == body


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("api", ["v0", "v1"])
def test_plugin_down_is_502(faults_broker: BrokerProcess, api: str, method: str) -> None:
    base = OCATA.v0 if api == "v0" else OCATA.v1
    path = base + ("/infra_workload/w1" if api == "v1" else "/t1/servers/s1")
    reply = call(faults_broker.url, method, path, body=b"{}" if method == "POST" else None)
    assert_json_error(reply, 502)


def test_plugin_closing_without_answer_is_502(broker: BrokerProcess,
                                              plugin: PluginServer) -> None:
    plugin.respond(OCATA.plugin_v0 + "/t1/servers", drop=True)
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/servers")
    assert_json_error(reply, 502)


def test_plugin_slower_than_read_timeout_is_504(broker: BrokerProcess,
                                                plugin: PluginServer) -> None:
    plugin.respond(PIKE.plugin_v0 + "/t1/servers", delay=PLUGIN_READ_TIMEOUT + 2, status=200,
                   json_body={"late": True})
    reply = call(broker.url, "GET", PIKE.v0 + "/t1/servers")
    assert_json_error(reply, 504)


def test_broker_still_serves_after_plugin_faults(broker: BrokerProcess,
                                                 plugin: PluginServer) -> None:
    plugin.respond(OCATA.plugin_v0 + "/t1/a", drop=True)
    for _ in range(3):
        assert_json_error(call(broker.url, "GET", OCATA.v0 + "/t1/a"), 502)
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/b")
    assert reply.status == 200, reply


@pytest.mark.parametrize("api", ["v0", "v1"])
def test_inventory_down_is_503(aai_down_broker: BrokerProcess, api: str) -> None:
    base = OCATA.v0 if api == "v0" else OCATA.v1
    assert_json_error(call(aai_down_broker.url, "GET", base + "/tenants"), 503)


def test_inventory_down_does_not_break_local_endpoints(aai_down_broker: BrokerProcess) -> None:
    reply = call(aai_down_broker.url, "GET", "/api/multicloud/v0/vim_types")
    assert reply.status == 200, reply


@pytest.mark.parametrize("mode", ["garbage", "error"])
def test_inventory_faults_are_json_5xx(aai_broker: BrokerProcess, aai: AAIServer,
                                       plugin: PluginServer, mode: str) -> None:
    aai.set_mode(mode)
    reply = call(aai_broker.url, "GET", OCATA.v0 + "/tenants")
    assert_json_error(reply, (502, 503))
    assert plugin.requests == []
    aai.set_mode("ok")
    assert call(aai_broker.url, "GET", OCATA.v0 + "/tenants").status == 200

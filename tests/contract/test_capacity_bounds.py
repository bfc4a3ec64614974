"""check_vim_capacity, bounded and fair (issue 9 item 7): a VIM bound per
request, per-request concurrency, failures logged with their reason, each
VIM asked once, and the client's headers (only) on the capacity calls."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.broker import BrokerProcess, stderr_has
from tests.support.contract import assert_json_error, call
from tests.support.hostile_plugin import HostilePlugin
from tests.support.regions import (AZURE, MISSING, NEWTON, OCATA, PIKE, STARLINGX, TITANIUM,
                                   VIO, Region)
from tests.support.upstreams import PluginServer

MAX_VIMS = 5  # capacity_max_vims of the hostile broker
HANGING = (OCATA, TITANIUM, STARLINGX, VIO, AZURE)  # all at the hostile plugin


def _v0(regions: list[Region]) -> dict:
    return {"vCPU": 1, "Memory": 1, "Storage": 1, "VIMs": [r.vim_id for r in regions]}


@pytest.mark.parametrize("api", ["v0", "v1"])
def test_more_vims_than_the_bound_is_413(hostile_broker: BrokerProcess,
                                         hostile_plugin: HostilePlugin,
                                         plugin: PluginServer, api: str) -> None:
    regions = [PIKE] * (MAX_VIMS + 1)
    body = (_v0(regions) if api == "v0"
            else {"vCPU": 1, "VIMs": [r.v1_ref for r in regions]})
    reply = call(hostile_broker.url, "POST", f"/api/multicloud/{api}/check_vim_capacity",
                 json_body=body)
    message = assert_json_error(reply, 413)
    assert str(MAX_VIMS) in message, message
    assert plugin.requests == [] and hostile_plugin.requests == []


def test_many_hanging_checks_do_not_starve_another_request(
        hostile_broker: BrokerProcess, hostile_plugin: HostilePlugin,
        plugin: PluginServer) -> None:
    for region in HANGING:
        hostile_plugin.program(region.plugin_v0 + "/capacity_check", "hang")
    plugin.answer_capacity(PIKE.plugin_v0 + "/capacity_check", True)

    def hanging(_: int) -> object:
        return call(hostile_broker.url, "POST", "/api/multicloud/v0/check_vim_capacity",
                    json_body=_v0(list(HANGING))).json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        # 15 requests x 5 hanging VIMs: more checks than the old shared pool's 64 threads.
        stuck = [pool.submit(hanging, i) for i in range(15)]
        time.sleep(0.3)  # let them take their places first (not a pass/fail timing)
        reply = call(hostile_broker.url, "POST", "/api/multicloud/v0/check_vim_capacity",
                     json_body=_v0([PIKE]))
        results = [f.result() for f in stuck]
    assert reply.status == 200, reply
    assert reply.json() == {"VIMs": [PIKE.vim_id]}
    assert all(r == {"VIMs": []} for r in results), results


def test_failed_checks_logged_with_their_reason(hostile_broker: BrokerProcess,
                                                hostile_plugin: HostilePlugin,
                                                plugin: PluginServer) -> None:
    hostile_plugin.program(OCATA.plugin_v0 + "/capacity_check", "capacity_500")
    hostile_plugin.program(TITANIUM.plugin_v0 + "/capacity_check", "reset")
    hostile_plugin.program(NEWTON.plugin_v0 + "/capacity_check", "capacity_yes")
    reply = call(hostile_broker.url, "POST", "/api/multicloud/v0/check_vim_capacity",
                 json_body=_v0([OCATA, TITANIUM, NEWTON, MISSING]),
                 headers={"X-TransactionID": "cap-reasons"})
    assert reply.status == 200, reply
    assert reply.json() == {"VIMs": [NEWTON.vim_id]}
    assert stderr_has(hostile_broker, "cap-reasons", OCATA.vim_id, "left out",
                       "plugin answered 500")
    assert stderr_has(hostile_broker, "cap-reasons", TITANIUM.vim_id, "left out",
                       "multicloud-titaniumcloud")
    assert stderr_has(hostile_broker, "cap-reasons", MISSING.vim_id, "left out")


def test_each_vim_asked_once_and_with_the_clients_headers(broker: BrokerProcess,
                                                          plugin: PluginServer) -> None:
    path = PIKE.plugin_v0 + "/capacity_check"
    plugin.answer_capacity(path, True)
    reply = call(broker.url, "POST", "/api/multicloud/v0/check_vim_capacity",
                 json_body=_v0([PIKE, PIKE, PIKE]),
                 headers=[("X-Auth-Token", "tok-1"), ("X-ONAP-RequestID", "req-1"),
                          ("X-TransactionID", "cap-headers"), ("Connection", "keep-alive")])
    assert reply.status == 200, reply
    assert reply.json() == {"VIMs": [PIKE.vim_id] * 3}
    [seen] = plugin.requests_to(path)
    names = seen.header_names()
    assert seen.headers["X-Auth-Token"] == "tok-1"
    assert seen.headers["X-ONAP-RequestID"] == "req-1"
    assert seen.headers.get_all("X-TransactionID") == ["cap-headers"]
    assert seen.headers["Content-Type"] == "application/json"
    # Nothing the client did not send, and nothing about the client's connection.
    assert "user-agent" not in names and "accept-encoding" not in names, names
    assert "keep-alive" not in names
    assert seen.headers["Host"] == plugin.url.split("//", 1)[1]
    assert seen.headers["Content-Length"] == str(len(seen.body))

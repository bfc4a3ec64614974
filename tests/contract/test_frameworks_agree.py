"""Django and Pecan serve the same API: same requests, same answers (API.md, intro)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.broker import BrokerProcess
from tests.support.client import Reply
from tests.support.contract import call
from tests.support.regions import K8S, MISSING, NEWTON, OCATA, PIKE, VIO
from tests.support.upstreams import PluginServer

JSON = {"Content-Type": "application/json"}
# Headers compared as they are; Date, Server and generated ids are not compared.
COMPARED_HEADERS = ("Content-Type", "Allow", "Location", "X-Plugin-Header",
                    "X-TransactionID", "Set-Cookie", "Link")

CASES: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("GET", "/api/multicloud/v0/vim_types", None, {}),
    ("GET", "/api/multicloud/v1/vim_types", None, {}),
    ("POST", "/api/multicloud/v0/vim_types", b"{}", JSON),
    ("DELETE", "/api/multicloud/v1/vim_types", None, {}),
    ("GET", "/api/multicloud/v0/swagger.json", None, {}),
    ("GET", "/api/multicloud/v1/swagger.json", None, {}),
    ("GET", "/api/multicloud/v0/check_vim_capacity", None, {}),
    ("POST", "/api/multicloud/v0/check_vim_capacity",
     json.dumps({"vCPU": 1, "Memory": 2, "Storage": 3,
                 "VIMs": [PIKE.vim_id, MISSING.vim_id, OCATA.vim_id, VIO.vim_id]}).encode(), JSON),
    ("POST", "/api/multicloud/v1/check_vim_capacity",
     json.dumps({"vCPU": 1, "VIMs": [PIKE.v1_ref, OCATA.v1_ref, MISSING.v1_ref]}).encode(), JSON),
    ("POST", "/api/multicloud/v0/check_vim_capacity", b"not json", JSON),
    ("POST", "/api/multicloud/v1/check_vim_capacity", b'{"VIMs": "x"}', JSON),
    ("GET", OCATA.v0 + "/t1/servers?limit=2&marker=a%2Fb", None, {"X-Auth-Token": "t"}),
    ("POST", OCATA.v0 + "/registry", b'{"defaultRegion": "R1"}', JSON),
    ("PUT", OCATA.v0 + "/registry", b"{}", JSON),
    ("DELETE", OCATA.v0, None, {}),
    ("GET", OCATA.v0, None, {}),
    ("POST", OCATA.v0 + "/identity/v3/auth/tokens", b'{"auth": {}}', JSON),
    ("PATCH", OCATA.v0 + "/extensions", b"{}", JSON),
    ("PATCH", PIKE.v0 + "/t1/ports/p1", b'{"port": {}}', {**JSON, "Project": "p1"}),
    ("HEAD", PIKE.v0 + "/t1/images/i1", None, {}),
    ("OPTIONS", PIKE.v0 + "/t1/images/i1", None, {}),
    ("POST", PIKE.v1 + "/infra_workload", b'{"template_type": "heat"}', JSON),
    ("PUT", PIKE.v1 + "/infra_workload/w1", b"{}", JSON),
    ("GET", NEWTON.v1 + "/tenants", None, {}),
    ("POST", OCATA.v0 + "/t1/stacks", b'{"stack": {}}', JSON),
    ("GET", MISSING.v0 + "/tenants", None, {}),
    ("GET", MISSING.v1 + "/tenants", None, {}),
    ("GET", K8S.v0 + "/tenants", None, {}),
    ("GET", "/api/multicloud/v0/nounderscore/tenants", None, {}),
    ("GET", "/api/multicloud/v3/whatever", None, {}),
    ("GET", "/api/multicloud/", None, {}),
]


def _program(plugin: PluginServer) -> None:
    plugin.answer_capacity(OCATA.plugin_v0 + "/capacity_check", True)
    plugin.answer_capacity(PIKE.plugin_v0 + "/capacity_check", True)
    plugin.answer_capacity(VIO.plugin_v0 + "/capacity_check", False)
    plugin.answer_capacity(PIKE.plugin_v1 + "/capacity_check", True,
                           azs=[{"availability-zone-name": "az1"}])
    plugin.answer_capacity(OCATA.plugin_v1 + "/capacity_check", False)
    plugin.respond(OCATA.plugin_v0 + "/t1/stacks", status=409,
                   json_body={"conflict": "stack exists"},
                   headers=[("X-Plugin-Header", "p"), ("Location", "http://p.example/s/1"),
                            ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                            ("Link", "</a>; rel=next"), ("Link", "</b>; rel=last")])


def _comparable(reply: Reply) -> dict[str, Any]:
    body: Any = reply.body
    if reply.content_type == "application/json" and reply.body:
        body = reply.json()
        if isinstance(body, dict):
            body.pop("host", None)  # swagger may name the host:port it was asked on
    headers: dict[str, Any] = {name: reply.headers.get_all(name) for name in COMPARED_HEADERS}
    headers["Allow"] = sorted(reply.allow())
    return {"status": reply.status, "body": body, "headers": headers}


def test_django_and_pecan_answer_alike(both_brokers: dict[str, BrokerProcess],
                                       plugin: PluginServer) -> None:
    _program(plugin)
    differences = []
    for index, (method, path, body, headers) in enumerate(CASES):
        sent = {**headers, "X-TransactionID": f"txn-compare-{index}"}
        answers = {fw: _comparable(call(b.url, method, path, body=body, headers=sent))
                   for fw, b in both_brokers.items()}
        if answers["django"] != answers["pecan"]:
            differences.append((method, path, answers))
    assert not differences, json.dumps(differences, indent=1, default=repr)[:20000]

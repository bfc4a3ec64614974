"""Forwarded endpoints (API.md, "Forwarded endpoints" and "How a call is forwarded")."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.broker import BrokerProcess
from tests.support.client import send
from tests.support.contract import assert_json_error, assert_method_not_allowed, call
from tests.support.regions import (AZURE, DASHED, K8S, MISSING, NEWTON, OCATA, OWNER, PIKE,
                                   STARLINGX, TITANIUM, UNDERSCORED, VIO, VMWARE_OLD, VSPHERE,
                                   Region)
from tests.support.upstreams import PluginServer

EVERY = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
TRIED = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# (path under the region, methods forwarded); the rest must be 405.
COMMON_ROWS = [
    ("", {"DELETE"}),
    ("/registry", {"GET", "POST"}),
    ("/identity/v3", {"GET", "POST"}),
    ("/identity/v3/auth/tokens", {"GET", "POST"}),
    ("/extensions", {"GET"}),
    ("/tenant-1/servers", EVERY),
    ("/networks", EVERY),
    ("/tenant-1/servers/vm-1/os-interface", EVERY),
]
V1_ONLY_ROWS = [
    ("/infra_workload", {"GET", "POST", "DELETE"}),
    ("/infra_workload/stack-1", {"GET", "POST", "DELETE"}),
    ("/infra_workload/stack-1/deep/er", {"GET", "POST", "DELETE"}),
]


def _cases(rows: list[tuple[str, set[str]]]) -> list:
    return [pytest.param(sub, allowed, method, id=f"{sub or '/'}-{method}")
            for sub, allowed in rows for method in TRIED]


def _check_method(broker: BrokerProcess, plugin: PluginServer, path: str, plugin_path: str,
                  allowed: set[str], method: str) -> None:
    body = b'{"name": "x"}' if method in ("POST", "PUT", "PATCH") else None
    headers = {"Content-Type": "application/json"} if body else {}
    reply = call(broker.url, method, path, body=body, headers=headers)
    if method not in allowed:
        assert_method_not_allowed(reply, allowed, method)
        assert plugin.requests == [], "a disallowed method reached the plugin"
        return
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(plugin_path, method)
    assert seen.query == ""
    assert seen.body == (body or b"")
    if method == "HEAD":
        assert reply.body == b""
    else:
        assert reply.json()["path"] == plugin_path


@pytest.mark.parametrize("sub, allowed, method", _cases(COMMON_ROWS))
def test_v0_method_table(broker: BrokerProcess, plugin: PluginServer, sub: str,
                         allowed: set[str], method: str) -> None:
    _check_method(broker, plugin, OCATA.v0 + sub, OCATA.plugin_v0 + sub, allowed, method)


@pytest.mark.parametrize("sub, allowed, method", _cases(COMMON_ROWS + V1_ONLY_ROWS))
def test_v1_method_table(broker: BrokerProcess, plugin: PluginServer, sub: str,
                         allowed: set[str], method: str) -> None:
    _check_method(broker, plugin, PIKE.v1 + sub, PIKE.plugin_v1 + sub, allowed, method)


CATALOG_REGIONS = [OCATA, PIKE, TITANIUM, STARLINGX, VIO, VSPHERE, AZURE, NEWTON, VMWARE_OLD,
                   UNDERSCORED, DASHED]


@pytest.mark.parametrize("region", CATALOG_REGIONS, ids=lambda r: r.region)
def test_v0_plugin_chosen_by_type_and_version(broker: BrokerProcess, plugin: PluginServer,
                                              region: Region) -> None:
    # NEWTON / VMWARE_OLD: version not in the catalog -> the type's default plugin.
    reply = call(broker.url, "GET", region.v0 + "/tenants")
    assert reply.status == 200, reply
    assert reply.json()["path"] == f"/api/{region.plugin}/v0/{region.vim_id}/tenants"
    assert plugin.requests_to(region.plugin_v0 + "/tenants", "GET")


@pytest.mark.parametrize("region", CATALOG_REGIONS, ids=lambda r: r.region)
def test_v1_plugin_chosen_by_type_and_version(broker: BrokerProcess, plugin: PluginServer,
                                              region: Region) -> None:
    reply = call(broker.url, "GET", region.v1 + "/tenants")
    assert reply.status == 200, reply
    assert reply.json()["path"] == f"/api/{region.plugin}/v1/{region.owner}/{region.region}/tenants"
    assert plugin.requests_to(region.plugin_v1 + "/tenants", "GET")


def test_default_plugin_for_unlisted_version(broker: BrokerProcess, plugin: PluginServer) -> None:
    reply = call(broker.url, "POST", NEWTON.v0 + "/registry", json_body={})
    assert reply.status == 200, reply
    assert reply.json()["path"] == "/api/multicloud-ocata/v0/CloudOwner_RegionNewton/registry"


def test_vim_id_splits_at_the_first_underscore(broker: BrokerProcess,
                                               plugin: PluginServer) -> None:
    reply = call(broker.url, "GET", "/api/multicloud/v0/CloudOwner_Region_Under_Score/flavors")
    assert reply.status == 200, reply
    # Region_Under_Score is a pike region; a split at the last "_" would find nothing.
    assert reply.json()["path"] == "/api/multicloud-pike/v0/CloudOwner_Region_Under_Score/flavors"


@pytest.mark.parametrize("api", ["v0", "v1"])
def test_type_not_in_catalog_is_404(broker: BrokerProcess, plugin: PluginServer,
                                    api: str) -> None:
    path = (K8S.v0 if api == "v0" else K8S.v1) + "/tenants"
    assert_json_error(call(broker.url, "GET", path), 404)
    assert plugin.requests == []


@pytest.mark.parametrize("api", ["v0", "v1"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_region_is_404_naming_it(broker: BrokerProcess, plugin: PluginServer,
                                         api: str, method: str) -> None:
    base = MISSING.v0 if api == "v0" else MISSING.v1
    reply = call(broker.url, method, base + "/registry" if method != "DELETE" else base)
    message = assert_json_error(reply, 404)
    assert MISSING.region in message and MISSING.owner in message, message
    assert plugin.requests == []


@pytest.mark.parametrize("vimid", ["nounderscore", "owner.x_region", "own%20er_region",
                                   "_RegionOcata", "CloudOwner_"])
def test_bad_vim_id_is_404(broker: BrokerProcess, plugin: PluginServer, vimid: str) -> None:
    assert_json_error(call(broker.url, "GET", f"/api/multicloud/v0/{vimid}/tenants"), 404)
    assert plugin.requests == []


@pytest.mark.parametrize("owner, region", [("Cloud_Owner", "RegionOcata"),
                                           ("Cloud.Owner", "RegionOcata"),
                                           ("CloudOwner", "Region.Ocata")])
def test_bad_v1_owner_or_region_is_404(broker: BrokerProcess, plugin: PluginServer,
                                       owner: str, region: str) -> None:
    # An owner never holds "_"; both parts match [0-9a-zA-Z_-]+.
    assert_json_error(call(broker.url, "GET", f"/api/multicloud/v1/{owner}/{region}/tenants"),
                      404)
    assert plugin.requests == []


def test_path_rewrite_touches_only_the_leading_prefix(broker: BrokerProcess,
                                                      plugin: PluginServer) -> None:
    sub = "/t1/api/multicloud/v0/images/multicloud"
    reply = call(broker.url, "GET", OCATA.v0 + sub)
    assert reply.status == 200, reply
    assert reply.json()["path"] == OCATA.plugin_v0 + sub


def test_percent_encoded_path_stays_encoded(broker: BrokerProcess, plugin: PluginServer) -> None:
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/servers/vm%20one")
    assert reply.status == 200, reply
    assert reply.json()["path"] == OCATA.plugin_v0 + "/t1/servers/vm%20one"


@pytest.mark.parametrize("api", ["v0", "v1"])
def test_query_string_unchanged(broker: BrokerProcess, plugin: PluginServer, api: str) -> None:
    query = "name=vm%201&limit=10&name=second&flag&marker=a%2Fb&x=%C3%A9"
    region_base, plugin_base = ((OCATA.v0, OCATA.plugin_v0) if api == "v0"
                                else (OCATA.v1, OCATA.plugin_v1))
    reply = call(broker.url, "GET", f"{region_base}/t1/servers?{query}")
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(plugin_base + "/t1/servers")
    assert seen.query == query
    assert reply.json()["query"] == query


def test_request_headers_pass_through(broker: BrokerProcess, plugin: PluginServer) -> None:
    sent = {"X-Auth-Token": "gAAAAABtoken", "Project": "tenant-42",
            "Content-Type": "application/json; charset=utf-8",
            "X-Custom-Header": "custom value, with comma", "Accept": "application/json",
            "X-Forwarded-For": "10.1.2.3"}
    reply = call(broker.url, "PUT", OCATA.v0 + "/t1/servers/vm1", body=b'{"a": 1}', headers=sent)
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/t1/servers/vm1", "PUT")
    for name, value in sent.items():
        assert seen.headers.get(name) == value, (name, seen.header_items)
    assert seen.body == b'{"a": 1}'


def test_hop_by_hop_and_host_are_not_forwarded(broker: BrokerProcess,
                                               plugin: PluginServer) -> None:
    hop = [("Connection", "keep-alive, X-Hop-Only"), ("X-Hop-Only", "secret"),
           ("Keep-Alive", "timeout=5, max=7"), ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
           ("TE", "trailers"), ("Trailers", "X-Checksum"), ("Upgrade", "h2c"),
           ("X-Stays", "yes")]
    reply = call(broker.url, "POST", OCATA.v0 + "/t1/volumes", body=b"{}",
                 headers=[*hop, ("Content-Type", "application/json")])
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/t1/volumes", "POST")
    names = seen.header_names()
    for name in ("x-hop-only", "keep-alive", "proxy-authorization", "te", "trailers",
                 "upgrade"):
        assert name not in names, (name, seen.header_items)
    assert "x-hop-only" not in (seen.headers.get("Connection") or "").lower()
    assert seen.headers.get("X-Stays") == "yes"
    # Host names the plugin, not the broker the client called.
    assert seen.headers.get_all("Host") == [f"127.0.0.1:{plugin.port}"]


@pytest.mark.parametrize("status", [200, 201, 202, 204, 400, 401, 403, 404, 409, 422, 500,
                                    501, 503])
def test_plugin_status_body_and_headers_returned_unchanged(
        broker: BrokerProcess, plugin: PluginServer, status: int) -> None:
    body = b"" if status == 204 else json.dumps(
        {"plugin": "multicloud-ocata", "status": status, "detail": "as the plugin said"}).encode()
    plugin.respond(OCATA.plugin_v0 + "/t1/stacks", status=status, body=body,
                   headers=[("Content-Type", "application/json"),
                            ("X-Plugin-Header", "plugin-value"),
                            ("Location", "http://plugin.example/stacks/9"),
                            ("X-Subject-Token", "tok-from-plugin")])
    reply = call(broker.url, "POST", OCATA.v0 + "/t1/stacks", json_body={"stack": 1})
    assert reply.status == status, reply
    assert reply.body == body
    assert reply.header("X-Plugin-Header") == "plugin-value"
    assert reply.header("Location") == "http://plugin.example/stacks/9"
    assert reply.header("X-Subject-Token") == "tok-from-plugin"
    if status != 204:
        assert reply.header("Content-Type") == "application/json"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_plugin_redirects_returned_not_followed(broker: BrokerProcess, plugin: PluginServer,
                                                status: int) -> None:
    target = f"{plugin.url}{OCATA.plugin_v0}/t1/elsewhere"
    plugin.respond(OCATA.plugin_v0 + "/t1/moved", status=status, body=b'{"moved": true}',
                   headers={"Location": target, "Content-Type": "application/json"})
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/moved")
    assert reply.status == status, reply
    assert reply.header("Location") == target
    assert reply.body == b'{"moved": true}'
    assert plugin.requests_to(OCATA.plugin_v0 + "/t1/elsewhere") == []


def test_plugin_compressed_body_returned_as_sent(broker: BrokerProcess,
                                                 plugin: PluginServer) -> None:
    plain = json.dumps({"servers": [{"id": str(i)} for i in range(2000)]}).encode()
    packed = gzip.compress(plain)
    plugin.respond(OCATA.plugin_v0 + "/t1/servers/detail", status=200, body=packed,
                   headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/servers/detail",
                 headers={"Accept-Encoding": "gzip"})
    assert reply.status == 200, reply
    assert reply.header("Content-Encoding") == "gzip"
    assert reply.body == packed
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/t1/servers/detail")
    assert seen.headers.get("Accept-Encoding") == "gzip"


def test_plugin_non_json_body_returned_unchanged(broker: BrokerProcess,
                                                 plugin: PluginServer) -> None:
    body = b"<html><body>plugin's own page</body></html>"
    plugin.respond(OCATA.plugin_v0 + "/t1/console", status=500, body=body,
                   headers={"Content-Type": "text/html; charset=iso-8859-1"})
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/console")
    assert (reply.status, reply.body) == (500, body)
    assert reply.header("Content-Type") == "text/html; charset=iso-8859-1"


def test_plugin_hop_by_hop_response_headers_removed(broker: BrokerProcess,
                                                    plugin: PluginServer) -> None:
    plugin.respond(OCATA.plugin_v0 + "/t1/ports", status=200, body=b'{"ports": []}',
                   headers=[("Content-Type", "application/json"),
                            ("Connection", "X-Plugin-Hop"), ("X-Plugin-Hop", "1"),
                            ("Keep-Alive", "timeout=99"),
                            ("Proxy-Authenticate", 'Basic realm="plugin"'),
                            ("Trailers", "X-Sum"), ("Upgrade", "h2c"),
                            ("X-Plugin-Kept", "kept")])
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/ports")
    assert (reply.status, reply.body) == (200, b'{"ports": []}')
    assert reply.header("X-Plugin-Kept") == "kept"
    for name in ("X-Plugin-Hop", "Proxy-Authenticate", "Trailers", "Upgrade"):
        assert reply.header(name) is None, (name, reply)
    assert reply.header("Keep-Alive") != "timeout=99"
    assert "x-plugin-hop" not in (reply.header("Connection") or "").lower()


def test_head_answer_has_no_body(broker: BrokerProcess, plugin: PluginServer) -> None:
    plugin.respond(OCATA.plugin_v0 + "/t1/images/i1", status=200, body=b"x" * 5000,
                   headers={"Content-Type": "application/octet-stream", "X-Image-Meta": "m"})
    conn = http.client.HTTPConnection("127.0.0.1", broker.port, timeout=20)
    try:
        head = send(conn, "HEAD", OCATA.v0 + "/t1/images/i1")
        # A body after the HEAD answer would corrupt this next answer on the same connection.
        after = send(conn, "GET", "/api/multicloud/v0/vim_types")
    finally:
        conn.close()
    assert head.status == 200 and head.body == b""
    assert head.headers.get("X-Image-Meta") == "m"
    assert plugin.requests_to(OCATA.plugin_v0 + "/t1/images/i1", "HEAD")
    assert after.status == 200 and isinstance(after.json(), list)


def test_binary_body_byte_identical_both_ways(broker: BrokerProcess,
                                              plugin: PluginServer) -> None:
    upload = os.urandom(3 * 1024 * 1024 + 7) + b"\r\n\x00\xff--end\r\n"
    download = os.urandom(4 * 1024 * 1024 + 3)
    plugin.respond(OCATA.plugin_v0 + "/t1/images/i1/file", status=200, body=download,
                   headers={"Content-Type": "application/octet-stream"}, method="PUT")
    reply = call(broker.url, "PUT", OCATA.v0 + "/t1/images/i1/file", body=upload,
                 headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/octet-stream"
    assert len(reply.body) == len(download) and reply.body == download
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/t1/images/i1/file", "PUT")
    assert len(seen.body) == len(upload) and seen.body == upload
    assert seen.headers.get("Content-Type") == "application/octet-stream"


def test_chunked_plugin_answer_byte_identical(broker: BrokerProcess,
                                              plugin: PluginServer) -> None:
    download = os.urandom(2 * 1024 * 1024 + 11)
    plugin.respond(OCATA.plugin_v0 + "/t1/images/i2/file", body=download, chunked=True,
                   headers={"Content-Type": "application/octet-stream"})
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/images/i2/file")
    assert reply.status == 200
    assert reply.body == download


def test_chunked_request_body_byte_identical(broker: BrokerProcess,
                                             plugin: PluginServer) -> None:
    upload = os.urandom(1536 * 1024)
    pieces = [upload[i:i + 100_000] for i in range(0, len(upload), 100_000)]
    reply = call(broker.url, "POST", OCATA.v0 + "/t1/objects", body=pieces,  # type: ignore[arg-type]
                 headers={"Content-Type": "application/octet-stream"}, chunked=True)
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/t1/objects", "POST")
    assert seen.body == upload


def _multipart(boundary: str) -> bytes:
    template = json.dumps({"heat_template_version": "2016-10-14", "resources": {}}).encode()
    return b"".join([
        f"--{boundary}\r\n".encode(),
        b'Content-Disposition: form-data; name="file"; filename="workload.tar.gz"\r\n',
        b"Content-Type: application/gzip\r\n\r\n",
        os.urandom(200_000), b"\r\n--not-the-boundary\r\n",
        f"\r\n--{boundary}\r\n".encode(),
        b'Content-Disposition: form-data; name="template_data"\r\n',
        b"Content-Type: application/json\r\n\r\n", template,
        f"\r\n--{boundary}--\r\n".encode(),
    ])


@pytest.mark.parametrize("sub", ["/infra_workload", "/infra_workload/wl-7"])
def test_multipart_infra_workload_forwarded_as_is(broker: BrokerProcess, plugin: PluginServer,
                                                  sub: str) -> None:
    boundary = "----broker-test-boundary-7MA4YWxkTrZu0gW"
    body = _multipart(boundary)
    content_type = f"multipart/form-data; boundary={boundary}"
    plugin.respond(OCATA.plugin_v1 + sub, status=202,
                   json_body={"workload_id": "wl-7", "workload_status": "CREATE_IN_PROGRESS"},
                   method="POST")
    reply = call(broker.url, "POST", OCATA.v1 + sub, body=body,
                 headers={"Content-Type": content_type, "X-Auth-Token": "tok"})
    assert reply.status == 202, reply
    assert reply.json() == {"workload_id": "wl-7", "workload_status": "CREATE_IN_PROGRESS"}
    [seen] = plugin.requests_to(OCATA.plugin_v1 + sub, "POST")
    assert seen.headers.get("Content-Type") == content_type
    assert seen.body == body


def test_v1_owner_and_region_reach_the_plugin_path(broker: BrokerProcess,
                                                   plugin: PluginServer) -> None:
    reply = call(broker.url, "DELETE", DASHED.v1 + "/infra_workload/wl-1?force=true")
    assert reply.status == 200, reply
    [seen] = plugin.requests_to("/api/multicloud-ocata/v1/owner-two/region-2/infra_workload/wl-1",
                                "DELETE")
    assert seen.query == "force=true"


def test_v1_vim_id_uses_owner_and_region(broker: BrokerProcess, plugin: PluginServer) -> None:
    # v1 looks the region up as {owner}_{region}: an underscored region id must still resolve.
    reply = call(broker.url, "GET", f"/api/multicloud/v1/{OWNER}/Region_Under_Score/tenants")
    assert reply.status == 200, reply
    assert reply.json()["path"] == f"/api/multicloud-pike/v1/{OWNER}/Region_Under_Score/tenants"


def test_no_headers_invented_for_the_plugin(broker: BrokerProcess, plugin: PluginServer) -> None:
    # The client sends no Content-Type and no body: the plugin must not get one either.
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/flavors", headers={"Accept": "*/*"})
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/t1/flavors", "GET")
    assert seen.headers.get("Content-Type") is None, seen.header_items
    assert seen.body == b""


def test_empty_post_body_forwarded_empty(broker: BrokerProcess, plugin: PluginServer) -> None:
    reply = call(broker.url, "POST", OCATA.v0 + "/registry", body=b"",
                 headers={"Content-Type": "application/json"})
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(OCATA.plugin_v0 + "/registry", "POST")
    assert seen.body == b""
    assert seen.headers.get("Content-Type") == "application/json"


def test_repeated_response_headers_all_returned(broker: BrokerProcess,
                                                plugin: PluginServer) -> None:
    plugin.respond(OCATA.plugin_v0 + "/t1/session", status=200, body=b"{}",
                   headers=[("Content-Type", "application/json"),
                            ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/"),
                            ("Warning", '199 - "first"'), ("Warning", '199 - "second"')])
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/session")
    assert reply.status == 200, reply
    assert reply.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert reply.headers.get_all("Warning") == ['199 - "first"', '199 - "second"']


def test_keep_alive_connection_survives_errors_with_unread_bodies(broker: BrokerProcess,
                                                                  plugin: PluginServer) -> None:
    # Answers that do not need the request body (405, 404) must not leave it on the
    # connection, where it would be read as the next request.
    conn = http.client.HTTPConnection("127.0.0.1", broker.port, timeout=20)
    body = b'{"GET /api/multicloud/v0/vim_types HTTP/1.1": 1}' + b" " * 70_000
    try:
        replies = [
            send(conn, "POST", "/api/multicloud/v0/vim_types", body=body),
            send(conn, "GET", "/api/multicloud/v0/vim_types"),
            send(conn, "PUT", MISSING.v0 + "/t1/servers/s1", body=body),
            send(conn, "PUT", OCATA.v0 + "/extensions", body=body),
            send(conn, "POST", OCATA.v0 + "/t1/servers", body=b'{"server": 1}'),
            send(conn, "GET", "/api/multicloud/v1/vim_types"),
        ]
    finally:
        conn.close()
    assert [r.status for r in replies] == [405, 200, 404, 405, 200, 200], replies
    assert replies[4].json()["body"] == '{"server": 1}'


def test_pooled_plugin_connection_not_reused_after_timeout(broker: BrokerProcess,
                                                           plugin: PluginServer) -> None:
    # A plugin that answers after the broker gave up must not have that late answer
    # handed to a later request on a reused connection.
    plugin.respond(OCATA.plugin_v0 + "/t1/late", delay=3.0, status=200, json_body={"late": True})
    assert_json_error(call(broker.url, "GET", OCATA.v0 + "/t1/late"), 504)
    time.sleep(1.5)  # the late answer has now been written to the broker's old connection
    for index in range(6):
        reply = call(broker.url, "GET", f"{OCATA.v0}/t1/after/{index}")
        assert reply.status == 200, reply
        assert reply.json()["path"] == f"{OCATA.plugin_v0}/t1/after/{index}"


def test_concurrent_clients_each_get_their_own_answer(broker: BrokerProcess,
                                                      plugin: PluginServer) -> None:
    for index in range(12):
        plugin.respond(f"{PIKE.plugin_v0}/t1/slow/{index}", delay=0.5, status=200,
                       json_body={"index": index})

    def one(index: int) -> tuple[int, object]:
        reply = call(broker.url, "GET", f"{PIKE.v0}/t1/slow/{index}")
        return reply.status, reply.json()

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(one, range(12)))
    assert answers == [(200, {"index": i}) for i in range(12)]

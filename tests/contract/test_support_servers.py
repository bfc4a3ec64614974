"""Self-tests of the upstream servers the contract suite relies on (no broker needed)."""

from __future__ import annotations

import http.client
import os
import socket

import pytest

from tests.support.client import request, send
from tests.support.upstreams import AAIServer, ClosedPort, PluginServer, free_port


@pytest.fixture()
def own_plugin():
    with PluginServer() as server:
        yield server


def test_plugin_echoes_and_records_what_it_got(own_plugin: PluginServer) -> None:
    reply = request(own_plugin.url, "PUT", "/api/x/v0/a_b/c?q=1&r=%20",
                    body=b'{"k": 1}', headers={"X-Auth-Token": "tok", "Project": "p"})
    assert reply.status == 200
    echo = reply.json()
    assert echo["method"] == "PUT"
    assert echo["path"] == "/api/x/v0/a_b/c"
    assert echo["query"] == "q=1&r=%20"
    assert echo["headers"]["x-auth-token"] == "tok"
    assert echo["body"] == '{"k": 1}'
    [seen] = own_plugin.requests_to("/api/x/v0/a_b/c")
    assert seen.method == "PUT" and seen.body == b'{"k": 1}'
    assert seen.headers["project"] == "p"


def test_plugin_keeps_connections_alive_across_requests(own_plugin: PluginServer) -> None:
    own_plugin.respond("/none", status=204)
    conn = http.client.HTTPConnection("127.0.0.1", own_plugin.port, timeout=5)
    try:
        first = send(conn, "GET", "/one")
        sock = conn.sock
        second = send(conn, "POST", "/two", body=b"x" * 1000)
        empty = send(conn, "DELETE", "/none")
        head = send(conn, "HEAD", "/three")
        last = send(conn, "GET", "/four")
        assert conn.sock is sock  # one TCP connection for all five
    finally:
        conn.close()
    assert [first.status, second.status, empty.status, head.status, last.status] == \
        [200, 200, 204, 200, 200]
    assert head.body == b"" and empty.body == b""
    assert last.json()["path"] == "/four"


def test_plugin_reads_chunked_bodies(own_plugin: PluginServer) -> None:
    data = os.urandom(300_000)
    reply = request(own_plugin.url, "POST", "/chunked",
                    body=[data[:1000], data[1000:200_000], data[200_000:]], chunked=True)
    assert reply.status == 200
    assert own_plugin.requests_to("/chunked")[0].body == data


def test_plugin_programmed_answers(own_plugin: PluginServer) -> None:
    blob = os.urandom(2 * 1024 * 1024)
    own_plugin.respond("/blob", status=201, body=blob, chunked=True,
                       headers={"Content-Type": "application/octet-stream", "X-Mine": "1"})
    own_plugin.respond("/only-post", status=409, json_body={"e": 1}, method="POST")
    own_plugin.answer_capacity("/cap", True, azs=[{"availability-zone-name": "az1"}])
    reply = request(own_plugin.url, "GET", "/blob")
    assert (reply.status, reply.body, reply.header("X-Mine")) == (201, blob, "1")
    assert request(own_plugin.url, "POST", "/only-post", body=b"").status == 409
    assert request(own_plugin.url, "GET", "/only-post").status == 200  # echo
    assert request(own_plugin.url, "POST", "/cap", body=b"{}").json() == {
        "result": True, "AZs": [{"availability-zone-name": "az1"}]}
    own_plugin.reset()
    assert request(own_plugin.url, "GET", "/blob").json()["path"] == "/blob"


def test_plugin_drop_and_delay(own_plugin: PluginServer) -> None:
    own_plugin.respond("/drop", drop=True)
    own_plugin.respond("/slow", delay=1.0, status=202)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(own_plugin.url, "GET", "/drop")
    with pytest.raises(socket.timeout):
        request(own_plugin.url, "GET", "/slow", timeout=0.2)
    assert request(own_plugin.url, "GET", "/slow").status == 202


def test_aai_answers_regions_404s_and_faults() -> None:
    with AAIServer() as aai:
        aai.add_region("Own", "Reg", "openstack", "ocata")
        path = "/aai/v13/cloud-infrastructure/cloud-regions/cloud-region/Own/Reg"
        reply = request(aai.url, "GET", path, headers={"Authorization": "Basic dTpw"})
        assert reply.status == 200
        assert reply.json()["cloud-region-version"] == "ocata"
        assert aai.basic_auth(aai.requests[-1]) == ("u", "p")
        assert request(aai.url, "GET", path.replace("Reg", "Nope")).status == 404
        aai.set_mode("garbage")
        garbage = request(aai.url, "GET", path)
        assert garbage.status == 200 and not garbage.body.startswith(b"{")
        aai.set_mode("error")
        assert request(aai.url, "GET", path).status == 500
        assert len(aai.requests) == 4


def test_closed_port_refuses_and_free_port_is_free() -> None:
    with ClosedPort() as closed:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", closed.port), timeout=2)
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))

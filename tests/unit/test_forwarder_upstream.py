"""The Forwarder in-process against real sockets on 127.0.0.1 (no broker
process): connection reuse, framing, deadlines and the per-plugin bound."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from multicloud_broker.core.errors import (BadGateway, BadRequest, GatewayTimeout,
                                           ServiceUnavailable)
from multicloud_broker.core.forwarder import Forwarder
from multicloud_broker.core.http import Request
from multicloud_broker.core.upstream import CutShort, DeadlineExceeded, encode_head
from tests.support.hostile_plugin import HostilePlugin

PLUGIN = "multicloud-test"


@pytest.fixture(scope="module")
def hostile():
    server = HostilePlugin().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset(hostile):
    hostile.reset()


def _forwarder(**kw) -> Forwarder:
    args = dict(connect_timeout=1.0, read_timeout=1.0, total_timeout=3.0,
                max_connections=2, max_idle=2, max_body_size=1 << 20)
    args.update(kw)
    return Forwarder(**args)


def _request(method: str = "GET", body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Request:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/x", "wsgi.input": io.BytesIO(body or b"")}
    if body is not None:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    request = Request.from_environ(environ)
    request.headers["x-transactionid"] = "unit-1"
    return request


def _read(response) -> bytes:
    body = response.body
    return body if isinstance(body, bytes) else b"".join(body)


def test_connection_reused_only_after_a_whole_answer(hostile):
    fw = _forwarder()
    for index in range(3):
        assert _read(fw.forward(_request(), PLUGIN, hostile.url, f"/a/{index}/echo"))
    assert len({r.conn_id for r in hostile.requests}) == 1
    # An answer abandoned half-way: its connection is closed, not pooled.
    response = fw.forward(_request(), PLUGIN, hostile.url, "/a/drip")
    next(iter(response.body))
    response.body.close()
    _read(fw.forward(_request(), PLUGIN, hostile.url, "/a/after/echo"))
    drip, after = hostile.requests[-2:]
    assert drip.conn_id != after.conn_id
    assert hostile.wait_for(lambda: drip.conn_id in hostile.closed_by_peer)


def test_framing_is_the_brokers(hostile):
    fw = _forwarder()
    request = _request("POST", b"hello", {"Expect": "100-continue", "Host": "client.example",
                                          "X-TransactionID": "client's own", "X-Auth": "t"})
    _read(fw.forward(request, PLUGIN, hostile.url, "/a/echo"))
    [seen] = hostile.requests
    names = [k.lower() for k, _ in seen.headers]
    assert seen.body == b"hello"
    assert names.count("content-length") == 1 and "expect" not in names
    assert seen.header("Host") == f"127.0.0.1:{hostile.port}"
    assert seen.header("X-TransactionID") == "unit-1"
    assert seen.header("X-Auth") == "t"
    assert "user-agent" not in names and "accept-encoding" not in names


def test_chunked_upload_forwarded_chunked(hostile):
    request = Request.from_environ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/x",
                                    "HTTP_TRANSFER_ENCODING": "chunked",
                                    "wsgi.input": io.BytesIO(b"a" * 70000)})
    request.headers["x-transactionid"] = "unit-1"
    _read(_forwarder().forward(request, PLUGIN, hostile.url, "/a/echo"))
    [seen] = hostile.requests
    assert seen.body == b"a" * 70000
    assert seen.header("Transfer-Encoding") == "chunked"


def test_header_that_cannot_be_sent_is_400():
    with pytest.raises(ValueError):
        encode_head("GET", "/x", "h", [("Bad Name", "v")])
    with pytest.raises(ValueError):
        encode_head("GET", "/x", "h", [("X", "a\r\nInjected: 1")])
    with pytest.raises(BadRequest):
        _forwarder().forward(_request(headers={"X-Bad": "a\x00b"}), PLUGIN,
                             "http://127.0.0.1:9", "/x")


@pytest.mark.parametrize("mode, error", [
    ("cut_chunked", BadGateway), ("short_length", BadGateway), ("reset", BadGateway),
    ("hang", GatewayTimeout), ("trickle_head", GatewayTimeout)])
def test_faults_before_the_answer_starts(hostile, mode, error):
    with pytest.raises(error) as caught:
        _read(_forwarder().forward(_request(), PLUGIN, hostile.url, f"/a/{mode}"))
    assert PLUGIN in caught.value.message and "127.0.0.1" not in caught.value.message


@pytest.mark.parametrize("mode, error", [("cut_chunked_big", CutShort),
                                         ("short_length_big", CutShort),
                                         ("trickle_started", DeadlineExceeded)])
def test_faults_after_the_answer_started_raise_from_the_body(hostile, mode, error):
    response = _forwarder().forward(_request(), PLUGIN, hostile.url, f"/a/{mode}")
    assert response.status == 200
    with pytest.raises(error):
        _read(response)


def test_close_framed_and_length_with_chunked_answers(hostile):
    fw = _forwarder()
    closed = fw.forward(_request(), PLUGIN, hostile.url, "/a/close_framed")
    assert _read(closed) == b"c" * 5000
    both = fw.forward(_request(), PLUGIN, hostile.url, "/a/cl_and_chunked")
    assert _read(both) == b"a" * 15 + b"b" * 15
    assert dict((k.lower(), v) for k, v in both.headers)["content-length"] == "30"


def test_refused_is_502_and_busy_is_503(hostile):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(BadGateway, match="unreachable"):
            _forwarder().forward(_request(), PLUGIN, f"http://127.0.0.1:{port}", "/x")
    fw = _forwarder(max_connections=1, connect_timeout=0.2, read_timeout=2)
    hung = threading.Thread(target=lambda: pytest.raises(
        GatewayTimeout, fw.forward, _request(), PLUGIN, hostile.url, "/a/hang"))
    hung.start()
    assert hostile.wait_for(lambda: hostile.requests)
    with pytest.raises(ServiceUnavailable, match="busy"):
        fw.forward(_request(), PLUGIN, hostile.url, "/a/echo")
    # Another plugin, even at the same address, has its own bound.
    assert _read(fw.forward(_request(), "other-plugin", hostile.url, "/a/echo"))
    hung.join()


def test_plugin_reached_by_address_or_by_name(hostile):
    # An IP literal is connected to without the resolver; a name through it.
    fw = _forwarder()
    for base in (hostile.url, hostile.url.replace("127.0.0.1", "localhost")):
        assert b'"target": "/a/echo"' in _read(fw.forward(_request(), PLUGIN, base, "/a/echo"))
    assert len(hostile.requests) == 2


def test_abandoned_answer_without_close_frees_its_slot(hostile):
    import gc
    fw = _forwarder(max_connections=1, connect_timeout=0.2)
    response = fw.forward(_request(), PLUGIN, hostile.url, "/a/drip")
    del response  # a server that never calls close()
    gc.collect()
    assert _read(fw.forward(_request(), PLUGIN, hostile.url, "/a/echo"))


def test_https_plugin_verified_with_the_system_trust(tmp_path, monkeypatch):
    import ssl

    from tests.server.helpers import self_signed
    from tests.support.upstreams import PluginServer
    cert, key = self_signed(tmp_path)
    server = PluginServer()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    base = f"https://127.0.0.1:{server.port}"
    with server:
        # Unknown certificate: the plugin is not trusted, nothing is sent.
        with pytest.raises(BadGateway, match="TLS"):
            _forwarder().forward(_request(), PLUGIN, base, "/a/x")
        assert server.requests == []
        # Trusted (the system trust store names it): forwarded, and reused.
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        fw = _forwarder()
        for _ in range(2):
            assert b'"path": "/a/x"' in _read(fw.forward(_request(), PLUGIN, base, "/a/x"))
        assert len(server.requests) == 2


@pytest.mark.parametrize("data, ready", [
    (b"", True),                           # the end: nothing to wait for
    (b"\r\n", False),                      # the next size line has not come
    (b"\r\n3e8", False),                   # half a size line
    (b"\r\n3e8\r\n", False),               # a size line, but none of its data
    (b"\r\n3e8\r\nx", True),
    (b"\r\n3e8;ext=1\r\nx", True),
    (b"\r\n0\r\n", False),                 # the last chunk, its blank line not yet
    (b"\r\n0\r\n\r\n", True),
    (b"\r\n0\r\nTrailer: x\r\n", False),
    (b"\r\n0\r\nTrailer: x\r\n\r\n", True),
    (b"\r\nzz\r\n", True),                 # malformed: read at once, and refused
])
def test_a_chunk_is_read_ahead_only_once_its_start_is_buffered(data, ready):
    from multicloud_broker.core.forwarder import _chunk_start_buffered
    assert _chunk_start_buffered(data) is ready

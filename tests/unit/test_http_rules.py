"""The connection rules both serving backends share (server/http_rules.py),
checked without a server: head parsing and the strict body over a socket
pair (which library each module brings in: test_backend_imports.py)."""

from __future__ import annotations

import io
import json
import socket
import threading

import pytest

from multicloud_broker.core.errors import ClientBodyError
from multicloud_broker.server.http_rules import (DISCARD_LIMIT, HeadError, HeadRules,
                                                 StrictBody, json_error, parse_head,
                                                 plain_head_fields)

RULES = HeadRules(max_header_line=1024, url_length_limit=256)


def _slow(data: bytes, protocol_version: str = "HTTP/1.1"):
    rfile = io.BufferedReader(io.BytesIO(data))
    head = parse_head(rfile.readline(RULES.url_length_limit), rfile, RULES, protocol_version)
    return head, rfile.read()


def _fields(head) -> tuple:
    return (head.command, head.path, head.request_version, head.requestline,
            head.raw_requestline, head.close_connection, head.expect_continue,
            list(head.headers.items()))


@pytest.mark.parametrize("data", [
    b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET //evil/x?a=%2e HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /x HTTP/1.1\r\nConnection: close\r\nX-A:\r\nx-a: two  \r\n\r\nGET /next",
])
def test_the_plain_head_reads_as_the_checked_parse_reads_it(data):
    plain = RULES.plain_head(data)
    assert plain is not None
    slow, rest = _slow(data)
    assert _fields(plain_head_fields(plain, "HTTP/1.1")) == _fields(slow)
    assert data[plain.end():] == rest


@pytest.mark.parametrize("data, status", [
    (b"GET /x HTTP/1.1\r\n folded: x\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nA: b\x00c\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nA: " + b"v" * 1100 + b"\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\n" + (b"A: " + b"v" * 1000 + b"\r\n") * 70 + b"\r\n", 431),
    (b"GET /x HTTP/1.1\r\n" + b"A: b\r\n" * 101 + b"\r\n", 431),
    (b"GET /x HTTP/1.1\r\nHost: x\r\n", 400),  # closed inside the headers
    (b"GET /x HTTP/2.0\r\n\r\n", 505),
    (b"HELLO\r\n\r\n", 400),
])
def test_a_bad_head_is_refused_with_its_status(data, status):
    with pytest.raises(HeadError) as refused:
        _slow(data)
    assert refused.value.status == status
    assert refused.value.message


def test_json_error_is_a_whole_answer_that_closes():
    answer = json_error(414, "request line over 8192 bytes")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 Request-URI Too Long\r\n")
    assert b"Connection: close" in head and f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"error": "request line over 8192 bytes"}


_READERS: list = []  # closed by the `pair` fixture: a reader left open keeps its socket


class _Body(StrictBody):
    def __init__(self, sock, length, chunked, timeout=5.0):
        self.errors = []
        _READERS.append(sock.makefile("rb"))
        self._init_body(_READERS[-1], sock, length, chunked, timeout, None,
                        self.errors.append)


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    yield server, client
    while _READERS:
        _READERS.pop().close()
    server.close()
    client.close()


def test_a_chunked_body_is_decoded_with_its_trailers(pair):
    server, client = pair
    client.sendall(b"3;ext=1\r\nabc\r\n5\r\nde\nfg\r\n0\r\nX-Sum: 1\r\n\r\nNEXT")
    body = _Body(server, None, True)
    assert body.readline() == b"abcde\n"
    assert body.read() == b"fg"
    assert body.read() == b"" and body.errors == []
    assert body.rfile.read(4) == b"NEXT"  # the next request is left alone


@pytest.mark.parametrize("data, message", [
    (b"zz\r\n", "malformed chunk size"),
    (b"-5\r\n", "malformed chunk size"),
    (b"3\r\nabcdef\r\n", "chunk data longer than its size"),
    (b"0\r\n folded: x\r\n\r\n", "trailer"),
])
def test_bad_chunked_framing_raises_once_and_asks_for_a_close(pair, data, message):
    server, client = pair
    client.sendall(data)
    body = _Body(server, None, True)
    with pytest.raises(ClientBodyError) as failed:
        body.read()
    assert failed.value.status == 400 and message in failed.value.message
    with pytest.raises(ClientBodyError):
        body.read()  # the same error again, not a new read
    assert body.errors == [failed.value]


def test_a_client_gone_mid_body_is_a_disconnect(pair):
    server, client = pair
    client.sendall(b"abc")
    client.shutdown(socket.SHUT_WR)
    body = _Body(server, 10, False)
    assert body.read(3) == b"abc"
    with pytest.raises(ClientBodyError) as failed:
        body.read()
    assert failed.value.disconnected and "after 3 of 10" in failed.value.message


def test_a_stalled_body_is_408_after_the_body_timeout(pair):
    server, _client = pair
    body = _Body(server, 10, False, timeout=0.2)
    with pytest.raises(ClientBodyError) as failed:
        body.read()
    assert failed.value.status == 408
    assert server.gettimeout() is None  # the socket's own timeout is restored


def test_a_large_unread_body_is_not_drained_but_closes(pair):
    server, client = pair
    body = _Body(server, DISCARD_LIMIT * 2, False)
    sender = threading.Thread(target=client.sendall, args=(b"y" * (DISCARD_LIMIT + 4096),),
                              daemon=True)
    sender.start()
    body.discard()
    sender.join(5)
    assert body.errors == [None]  # on_error(None): close after the answer
    assert body.position == DISCARD_LIMIT

"""The plugin client's fast path for plain answer heads must leave the
response exactly as http.client's begin() does, and leave every other head
to begin()."""

from __future__ import annotations

import http.client
import io

import pytest

from multicloud_broker.core.upstream import take_plain_head


class _Sock:
    def __init__(self, data: bytes):
        self.data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.data))


def _state(response: http.client.HTTPResponse) -> tuple:
    return (response.status, response.code, response.reason, response.version,
            response.chunked, response.chunk_left, response.will_close, response.length,
            list(response.headers.items()), response.fp.read())


def _both_ways(data: bytes, method: str = "GET") -> tuple[tuple, tuple]:
    by_library = http.client.HTTPResponse(_Sock(data), method=method)
    by_library.begin()
    fast = http.client.HTTPResponse(_Sock(data), method=method)
    assert take_plain_head(fast, method), "a plain head must take the fast path"
    return _state(by_library), _state(fast)


PLAIN = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\nbody",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\n\r\nclose-framed",
    b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\nProxy-Connection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\n\r\n",
    b"HTTP/1.1 201 \r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 502 Bad Gateway  \r\nContent-Length: -3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n0123456789",
    b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a:2  \r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\nNEXT",
]


@pytest.mark.parametrize("data", PLAIN)
def test_a_plain_answer_head_reads_as_begin_reads_it(data):
    by_library, fast = _both_ways(data)
    assert fast == by_library


def test_an_answer_to_head_has_no_body():
    by_library, fast = _both_ways(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD")
    assert fast == by_library and fast[7] == 0


NOT_PLAIN = [
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",       # not all here
    b"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",         # bare LF
    b"HTTP/1.1 200 OK\r\nA: b\x00\r\n\r\n",
    b"HTTP/2 200\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 99 Odd\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 101 + b"\r\n",
    b"",
]


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_anything_unusual_is_left_to_begin(data):
    response = http.client.HTTPResponse(_Sock(data))
    assert not take_plain_head(response, "GET")
    assert response.fp.read() == data  # nothing consumed

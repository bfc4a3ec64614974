"""The protocol's fast path for plain request heads must read every head it
takes exactly as http.server's parse_request does, and leave every other
head to the line-by-line path."""

from __future__ import annotations

import io
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from multicloud_broker.server.protocol import BrokerProtocol, Limits

LIMITS = Limits(header_timeout=20, keepalive_timeout=60, body_timeout=60, socket_timeout=None,
                request_slots=10, max_header_line=1024, url_length_limit=256)


class _Probe(BrokerProtocol):
    """A protocol object without a connection: only the parsing is used."""

    def __init__(self, data: bytes, protocol_version: str = "HTTP/1.1"):
        self.rfile = io.BufferedReader(io.BytesIO(data))
        self.protocol_version = protocol_version
        self.continued = 0

    def handle_expect_100(self) -> bool:
        self.continued += 1
        return True

    def send_error(self, code, message=None, explain=None):
        raise AssertionError(f"{code} {message}")


def _parsed(probe: _Probe) -> tuple:
    return (probe.command, probe.path, probe.request_version, probe.requestline,
            probe.raw_requestline, probe.close_connection, probe.continued,
            list(probe.headers.items()), probe.rfile.read())


def _both_ways(data: bytes, protocol_version: str = "HTTP/1.1") -> tuple[tuple, tuple]:
    slow = _Probe(data, protocol_version)
    slow.raw_requestline = slow.rfile.readline(LIMITS.url_length_limit)
    assert slow.parse_request()
    fast = _Probe(data, protocol_version)
    head = LIMITS.plain_head(data)
    assert head is not None, "a plain head must take the fast path"
    fast.rfile.read(head.end())
    assert fast._take_plain(head)
    return _parsed(slow), _parsed(fast)


PLAIN = [
    b"GET /api/multicloud/v0/vim_types HTTP/1.0\r\nHost: 127.0.0.1:9001\r\n"
    b"User-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    b"POST /x?a=%2e%2E&b HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length:   3  \r\n\r\nabc",
    b"GET //evil.example/x HTTP/1.1\r\nX-A:\r\nX-A: two\r\nx-a:three  \r\n\r\n",
    b"DELETE /api/multicloud/v0/o_r HTTP/1.1\r\nX-Latin: caf\xe9\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
    b"GET /x HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("data", PLAIN)
@pytest.mark.parametrize("protocol_version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_plain_head_reads_as_parse_request_reads_it(data, protocol_version):
    slow, fast = _both_ways(data, protocol_version)
    assert fast == slow


NOT_PLAIN = [
    b"GET /x HTTP/1.1\r\nHost: x\r\n",                      # not all here yet
    b"GET /x HTTP/1.1\r\n Host: x\r\n\r\n",                 # obs-fold
    b"GET /x HTTP/1.1\r\nHost : x\r\n\r\n",                 # space before the colon
    b"GET /x HTTP/1.1\r\nHost: x\nA: b\r\n\r\n",            # bare LF
    b"GET /x HTTP/1.1\nHost: x\n\n",                         # LF line ends
    b"GET /x HTTP/1.1\r\nA: b\x00c\r\n\r\n",                # NUL
    b"GET /x HTTP/1.1\r\nA: b\rc\r\n\r\n",                  # bare CR
    b"GET  /x HTTP/1.1\r\n\r\n",                             # two spaces
    b"GET /x HTTP/2.0\r\n\r\n",                              # other versions
    b"GET /x\r\n\r\n",                                       # HTTP/0.9
    b"GET /x HTTP/1.1\r\nA: " + b"v" * 1020 + b"\r\n\r\n",  # a line over 1024 bytes
    b"GET /" + b"p" * 300 + b" HTTP/1.1\r\n\r\n",            # a request line over 256
    b"GET /x HTTP/1.1\r\n" + b"A: b\r\n" * 101 + b"\r\n",   # over 100 headers
]


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_anything_unusual_is_left_to_the_line_by_line_path(data):
    assert LIMITS.plain_head(data) is None


def test_a_header_line_of_exactly_the_limit_is_plain():
    line = b"A: " + b"v" * (1024 - 5) + b"\r\n"
    assert len(line) == 1024
    assert LIMITS.plain_head(b"GET /x HTTP/1.1\r\n" + line + b"\r\n") is not None

"""Request framing the broker owns (issue 9, item 4): anything two HTTP parsers
could read two ways gets a JSON 400 and a closed connection, and nothing of
it reaches the plugin; a body that breaks or stops mid-way fails cleanly and
is logged for what it is; every such answer has its access-log line (issue
21, item 4). Raw sockets, real broker processes, both frameworks."""

from __future__ import annotations

import time

import pytest

from multicloud_broker.server.access_log import REFUSED_LINES_BURST
from tests.server.helpers import FRAMEWORKS, base_config, wait_until
from tests.server.rawhttp import connect, exchange, read_answer, read_until_close, request_bytes
from tests.support.broker import BrokerProcess, region_add, write_config
from tests.support.client import request

BROKER_PATH = "/api/multicloud/v0/proc_RegionOne/upload"
PLUGIN_PATH = "/api/multicloud-ocata/v0/proc_RegionOne/upload"
SMUGGLED = "/api/multicloud/v0/proc_RegionOne/SMUGGLED"
CAPACITY = "/api/multicloud/v0/proc_RegionOne/capacity_check"
SMUGGLED_REQUEST = f"GET {SMUGGLED} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


@pytest.fixture(scope="module", params=FRAMEWORKS)
def broker(server_backend, request, tmp_path_factory, plugin):
    tmp = tmp_path_factory.mktemp(f"framing-{request.param}")
    config = base_config(tmp, plugin, client_body_timeout=1, client_header_timeout=5)
    write_config(tmp / "region.conf", config)
    region_add(tmp / "region.conf", "proc", "RegionOne", "openstack", "ocata")
    broker = BrokerProcess(tmp, config, web_framework=request.param, workers=1,
                           name=f"framing-{request.param}").start()
    yield broker
    broker.stop()


def _plugin_saw_nothing(plugin) -> bool:
    return not [r for r in plugin.requests if "upload" in r.path or "SMUGGLED" in r.path]


@pytest.fixture
def access_log(broker):
    """The access-log lines (stdout) written since the test began, but those
    of the start-up probe (its line may come after the broker was ready)."""
    start = broker.stdout_path.stat().st_size

    def lines() -> list[str]:
        with broker.stdout_path.open() as log:
            log.seek(start)
            return [line for line in log.read().splitlines() if "/swagger.json " not in line]
    return lines


def _assert_refused(reply, reason: str, access_log) -> None:
    assert reply.status == 400, reply
    assert reason in reply.json()["error"], reply
    assert reply.headers.get("connection") == "close", reply
    assert reply.closed, "the connection must be closed after a framing error"
    assert reply.rest == b"", f"a second answer followed: {reply.rest[:200]!r}"
    # One access-log line for it: the server's own refusal (with the client,
    # the request line and the reason), or the app's 400 for a body's framing.
    (line,) = wait_until(access_log)
    status, outcome = line.split()[5:7]
    assert status == "400" and outcome in ("refused", "done"), line
    if outcome == "refused":
        assert f' 127.0.0.1 "POST {BROKER_PATH} HTTP/1.' in line and reason in line, line


SMUGGLING_HEADERS = {
    "gzip, chunked": [("Transfer-Encoding", "gzip, chunked")],
    "chunked twice": [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
    "chunked, chunked": [("Transfer-Encoding", "chunked, chunked")],
    "identity": [("Transfer-Encoding", "identity")],
    "chunked;x": [("Transfer-Encoding", "chunked;q=1")],
    "length and chunked": [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
    "chunked and length": [("Transfer-Encoding", "chunked"), ("Content-Length", "0")],
}
SMUGGLING_REASONS = {"length and chunked": "together", "chunked and length": "together"}


@pytest.mark.parametrize("case", SMUGGLING_HEADERS)
def test_ambiguous_transfer_encoding_is_400_and_the_body_never_runs(broker, plugin, case,
                                                                   access_log):
    plugin.reset()
    # An empty chunked body, then a whole second request: a server that reads
    # the body as empty would run SMUGGLED as the next request.
    body = b"0\r\n\r\n" + SMUGGLED_REQUEST
    data = request_bytes("POST", BROKER_PATH, SMUGGLING_HEADERS[case], body)
    reply = exchange(broker.port, data)
    _assert_refused(reply, SMUGGLING_REASONS.get(case, "Transfer-Encoding"), access_log)
    assert _plugin_saw_nothing(plugin), plugin.requests


CONTENT_LENGTHS = {
    "+10": [("Content-Length", "+10")],
    "1_0": [("Content-Length", "1_0")],
    "-1": [("Content-Length", "-1")],
    "0x0a": [("Content-Length", "0x0a")],
    "vertical tab": [("Content-Length", "\x0b10")],
    "list in one header": [("Content-Length", "10, 10")],
    "two different": [("Content-Length", "10"), ("Content-Length", "0")],
    "two equal": [("Content-Length", "10"), ("Content-Length", "10")],
    "huge": [("Content-Length", "9" * 40)],
}


@pytest.mark.parametrize("case", CONTENT_LENGTHS)
def test_content_length_that_is_not_one_decimal_number_is_400(broker, plugin, case, access_log):
    plugin.reset()
    data = request_bytes("POST", BROKER_PATH, CONTENT_LENGTHS[case], b"0123456789")
    reply = exchange(broker.port, data + SMUGGLED_REQUEST)
    _assert_refused(reply, "Content-Length", access_log)
    assert _plugin_saw_nothing(plugin), plugin.requests


@pytest.mark.parametrize("folded", [
    "X-Auth-Token: abc\r\n def",
    "Content-Length:\r\n 10",
    "Transfer-Encoding: gzip\r\n\tchunked",
])
def test_folded_header_lines_are_400(broker, plugin, folded, access_log):
    plugin.reset()
    data = (f"POST {BROKER_PATH} HTTP/1.1\r\nHost: x\r\n{folded}\r\n\r\n".encode()
            + b"0123456789")
    _assert_refused(exchange(broker.port, data), "obs-fold", access_log)
    assert _plugin_saw_nothing(plugin), plugin.requests


@pytest.mark.parametrize("line", ["Transfer-Encoding : chunked", "X Bad: 1", "no colon"])
def test_malformed_header_lines_are_400(broker, plugin, line, access_log):
    plugin.reset()
    data = f"POST {BROKER_PATH} HTTP/1.1\r\nHost: x\r\n{line}\r\n\r\n".encode()
    _assert_refused(exchange(broker.port, data + b"0\r\n\r\n"), "malformed header line",
                    access_log)
    assert _plugin_saw_nothing(plugin), plugin.requests


def test_transfer_encoding_in_http_1_0_is_400(broker, plugin, access_log):
    plugin.reset()
    data = request_bytes("POST", BROKER_PATH, [("Transfer-Encoding", "chunked")],
                         b"0\r\n\r\n", version="HTTP/1.0")
    _assert_refused(exchange(broker.port, data), "HTTP/1.0", access_log)
    assert _plugin_saw_nothing(plugin), plugin.requests


@pytest.mark.parametrize("size", [b"zz", b"-5", b"1" * 17, b"5 5", b"+5", b""])
def test_malformed_chunk_size_is_a_clean_400(broker, plugin, size, access_log):
    """Found while the app reads the body: the JSON 400 names the chunk size,
    the connection closes, and the log says bad framing, not a traceback."""
    data = request_bytes("POST", CAPACITY, [("Transfer-Encoding", "chunked"),
                                            ("Content-Type", "application/json")],
                         b"2\r\n{}\r\n" + size + b"\r\n{}\r\n0\r\n\r\n")
    reply = exchange(broker.port, data)
    _assert_refused(reply, "chunk size", access_log)
    wait_until(lambda: "bad request framing" in broker.output(), timeout=5)
    assert "Traceback" not in broker.output()


def test_malformed_chunk_size_on_a_forwarded_call_reaches_no_plugin(broker, plugin):
    plugin.reset()
    data = request_bytes("POST", BROKER_PATH, [("Transfer-Encoding", "chunked")],
                         b"3\r\nabc\r\nzz\r\nmore\r\n0\r\n\r\n" + SMUGGLED_REQUEST)
    reply = exchange(broker.port, data)
    # Either answered 400 (nothing sent yet) or cut: never a success, never a second answer.
    assert reply.status == 400 and reply.closed and reply.rest == b"", reply
    assert _plugin_saw_nothing(plugin), plugin.requests
    assert "Traceback" not in broker.output()


def test_client_disconnecting_mid_upload_is_logged_as_such(broker, plugin):
    plugin.reset()
    with connect(broker.port) as sock:
        sock.sendall(request_bytes("POST", BROKER_PATH, [("Content-Length", "1000")],
                                   b"x" * 100))
        time.sleep(0.2)
    wait_until(lambda: "client disconnected mid-upload" in broker.output(), timeout=5)
    output = broker.output()
    assert "Traceback" not in output
    # What reached the plugin, if anything, is visibly cut: never 1000 bytes.
    assert all(len(r.body) < 1000 for r in plugin.requests_to(PLUGIN_PATH)), plugin.requests
    assert exchange(broker.port, request_bytes("GET", "/api/multicloud/v0/vim_types",
                                               [("Connection", "close")])).status == 200


def test_well_framed_bodies_and_pipelined_requests_still_work(broker, plugin):
    plugin.reset()
    chunked = request_bytes("POST", BROKER_PATH, [("Transfer-Encoding", "Chunked")],
                            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    fixed = request_bytes("PUT", BROKER_PATH, [("Content-Length", " 3 ")], b"abc")
    with connect(broker.port) as sock:
        sock.sendall(chunked + fixed)  # two requests in one write: pipelining
        first, second = read_answer(sock), read_answer(sock)
    assert first.status == 200 and second.status == 200, (first, second)
    bodies = [(r.method, r.body) for r in plugin.requests_to(PLUGIN_PATH)]
    assert bodies == [("POST", b"hello world"), ("PUT", b"abc")]


def test_expect_100_continue_is_answered_by_the_server(broker, plugin):
    plugin.reset()
    with connect(broker.port) as sock:
        sock.sendall(request_bytes("POST", BROKER_PATH, [("Content-Length", "4"),
                                                         ("Expect", "100-continue")]))
        interim = sock.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(b"data")
        reply = read_answer(sock)
    assert reply.status == 200, reply
    assert [r.body for r in plugin.requests_to(PLUGIN_PATH)] == [b"data"]


def test_request_body_stalled_past_client_body_timeout_is_408(broker, plugin):
    plugin.reset()
    with connect(broker.port) as sock:
        sock.sendall(request_bytes("POST", CAPACITY, [("Content-Length", "20"),
                                                      ("Content-Type", "application/json")],
                                   b'{"vCPU":'))
        data, closed = read_until_close(sock, timeout=10)
    from tests.server.rawhttp import parse
    reply = parse(data, closed)
    assert reply.status == 408 and reply.closed, reply
    assert "no request body data" in reply.json()["error"]


def test_a_body_trickled_faster_than_the_timeout_is_read_whole(broker, plugin):
    """client_body_timeout bounds the gap between two reads, not the whole body."""
    plugin.reset()
    with connect(broker.port) as sock:
        sock.sendall(request_bytes("POST", BROKER_PATH, [("Content-Length", "8")]))
        for piece in (b"ab", b"cd", b"ef", b"gh"):
            time.sleep(0.4)  # 1.6 s in all, more than the 1 s timeout
            sock.sendall(piece)
        reply = read_answer(sock)
    assert reply.status == 200, reply
    assert [r.body for r in plugin.requests_to(PLUGIN_PATH)] == [b"abcdefgh"]


def _samples(broker, family_name: str) -> dict[str, float]:
    """A counter's totals from /metrics, by their first label's value ("" if none)."""
    from prometheus_client.parser import text_string_to_metric_families
    text = request(broker.url, "GET", "/metrics").body.decode()
    return {next(iter(sample.labels.values()), ""): sample.value
            for family in text_string_to_metric_families(text)
            if family.name == family_name
            for sample in family.samples if sample.name.endswith("_total")}


def _refused_counts(broker) -> dict[str, float]:
    return _samples(broker, "multicloud_broker_requests_refused")


def test_requests_the_server_refuses_are_counted_by_status(broker):
    """They never reach a route (requests_total): the operator sees them here."""
    before = _refused_counts(broker)
    exchange(broker.port, b"GET /x HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n")
    exchange(broker.port, b"GET /x HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello")
    exchange(broker.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    after = _refused_counts(broker)
    assert after.get("400", 0) - before.get("400", 0) == 2
    assert after.get("414", 0) - before.get("414", 0) == 1


def test_a_flood_of_refusals_is_logged_rate_limited_and_the_rest_counted(broker, access_log):
    """A client can send refusals far faster than requests: their lines stop
    at the rate limit (the disk does not fill), and the lines left out are
    counted with the other dropped lines, and warned about."""
    flood = REFUSED_LINES_BURST + 100
    dropped = _samples(broker, "multicloud_broker_log_lines_dropped").get("", 0)
    refused = b"GET /x HTTP/1.1\r\nContent-Length: +5\r\n\r\n"
    assert [exchange(broker.port, refused).status for _ in range(flood)] == [400] * flood
    logged = len([line for line in access_log() if " 400 refused " in line])
    assert 0 < logged < flood
    wait_until(lambda: _samples(broker, "multicloud_broker_log_lines_dropped").get("", 0)
               - dropped >= flood - logged, timeout=10)
    wait_until(lambda: "over a rate limit" in broker.stderr_path.read_text(), timeout=5)

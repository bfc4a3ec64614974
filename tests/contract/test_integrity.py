"""Forwarding integrity (issue 9): the request target as the client wrote it,
every plugin answer exactly once and whole, or visibly not.

Plugins here misbehave on purpose (tests/support/hostile_plugin.py); clients
are raw sockets or http.client, so that what they see is what a user sees.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.contract.settings import CROWDED_SLOTS
from tests.support.broker import BrokerProcess, stderr_has
from tests.support.contract import assert_json_error, call
from tests.support.hostile_plugin import BIG, HostilePlugin
from tests.support.regions import OCATA, PIKE
from tests.support.upstreams import PluginServer

TXID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _get(broker: BrokerProcess, path: str, method: str = "GET",
         headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", broker.port, timeout=15)
    conn.request(method, path, headers=headers or {})
    return conn.getresponse()


def _raw(port: int, data: bytes, timeout: float = 15.0) -> bytes:
    """Send raw bytes, read until the server closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                chunks.append(piece)
        except socket.timeout:
            chunks.append(b"<timeout>")
        return b"".join(chunks)


# 1. The path as the client wrote it ----------------------------------------

REFUSED = [
    ("/..%2f..%2f..%2faai/v13/x", "encoded '/'"),
    ("/t1/../../x", "dot-segment"),
    ("/t1/./x", "dot-segment"),
    ("/t1/%2e%2e/x", "dot-segment"),
    ("/t1/%2E%2e/x", "dot-segment"),
    ("/t1/.%2E/x", "dot-segment"),
    ("/t1/%252e%252e/x", "dot-segment"),
    ("/t1/%25252e%25252E/x", "dot-segment"),
    ("/t1/a%2fb", "encoded '/'"),
    ("/t1/a%5Cb", "encoded '/' or '\\'"),
    ("/t1/a\\b", "backslash"),
    ("/t1/a%00b", "control"),
    ("/t1/a%0d%0aX-Injected:%201", "control"),
    ("/t1/a%250ab", "control"),
    ("/t1/%2e%2e", "dot-segment"),
    ("/..", "dot-segment"),
]


@pytest.mark.parametrize("api", ["v0", "v1"])
@pytest.mark.parametrize("rest, reason", REFUSED, ids=[r for r, _ in REFUSED])
def test_escaping_paths_refused_and_nothing_sent(broker: BrokerProcess, plugin: PluginServer,
                                                 api: str, rest: str, reason: str) -> None:
    base = OCATA.v0 if api == "v0" else OCATA.v1
    answer = _raw(broker.port, f"GET {base}{rest} HTTP/1.1\r\nHost: x\r\n"
                               "Connection: close\r\n\r\n".encode("latin-1"))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert reason in json.loads(body)["error"], body
    assert plugin.requests == [], "a refused path reached the plugin"


KEPT = [
    # (path below the region, query): what the plugin must receive, byte for byte.
    ("/t1/a%3Fb=1", ""),
    ("/t1/x%23frag", "q=1"),
    ("/t1/%2541", "a=%2541&b=%26&c=+&c=2"),
    ("/t1/na%C3%AFve/%7Euser", ""),
    ("/t1/a%20b/", "x=%20"),
    ("/t1/..a/b..", ""),
    ("/t1/images/disk.qcow2", "name=a;b"),
]


@pytest.mark.parametrize("rest, query", KEPT, ids=[r + "?" + q for r, q in KEPT])
def test_path_and_query_forwarded_as_written(broker: BrokerProcess, plugin: PluginServer,
                                             rest: str, query: str) -> None:
    target = OCATA.v0 + rest + (f"?{query}" if query else "")
    reply = call(broker.url, "GET", target)
    assert reply.status == 200, reply
    assert reply.json()["path"] == OCATA.plugin_v0 + rest
    assert reply.json()["query"] == query
    [seen] = plugin.requests
    assert seen.target == OCATA.plugin_v0 + rest + (f"?{query}" if query else "")


def test_v1_path_forwarded_as_written(broker: BrokerProcess, plugin: PluginServer) -> None:
    reply = call(broker.url, "POST", PIKE.v1 + "/infra_workload/st%2Dack?x=%3D",
                 body=b"{}")
    assert reply.status == 200, reply
    [seen] = plugin.requests
    assert seen.target == PIKE.plugin_v1 + "/infra_workload/st%2Dack?x=%3D"


# 2. A half-read plugin connection is never reused ----------------------------

def test_client_dropping_mid_answer_does_not_poison_the_pool(
        hostile_broker: BrokerProcess, hostile_plugin: HostilePlugin) -> None:
    drip = OCATA.plugin_v0 + "/t1/drip"
    with socket.create_connection(("127.0.0.1", hostile_broker.port), timeout=10) as sock:
        sock.sendall(f"GET {OCATA.v0}/t1/drip HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = b""
        while b"\r\n\r\n" not in got:
            got += sock.recv(65536)
        assert got.startswith(b"HTTP/1.1 200"), got
        # Gone mid-answer, with a reset: the broker's next write fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    [first] = hostile_plugin.wait_for(lambda: hostile_plugin.requests_to(drip)) and \
        hostile_plugin.requests_to(drip)
    # Wait (bounded) for the broker to give that connection up; a broker that
    # pooled it instead sends the next request on it.
    hostile_plugin.wait_for(lambda: first.conn_id in hostile_plugin.closed_by_peer)
    echo = OCATA.plugin_v0 + "/t1/after/echo"
    reply = call(hostile_broker.url, "GET", OCATA.v0 + "/t1/after/echo")
    assert reply.status == 200, reply
    assert reply.json()["target"] == echo
    assert len(hostile_plugin.requests_to(echo)) == 1, "the next request ran twice or never"
    assert hostile_plugin.requests_to(echo)[0].conn_id != first.conn_id


def test_head_answer_connection_not_reused(hostile_broker: BrokerProcess,
                                           hostile_plugin: HostilePlugin) -> None:
    # The plugin sends body bytes after its HEAD answer, once the next request comes.
    response = _get(hostile_broker, OCATA.v0 + "/t1/head_with_body", method="HEAD")
    assert response.status == 200
    response.read()
    echo = OCATA.plugin_v0 + "/t1/next/echo"
    reply = call(hostile_broker.url, "GET", OCATA.v0 + "/t1/next/echo")
    assert reply.status == 200, reply
    assert reply.json()["target"] == echo
    assert len(hostile_plugin.requests_to(echo)) == 1


def test_next_request_after_cut_answers_runs_once(hostile_broker: BrokerProcess,
                                                  hostile_plugin: HostilePlugin) -> None:
    for mode in ("cut_chunked", "short_length", "reset"):
        try:
            _get(hostile_broker, f"{OCATA.v0}/t1/{mode}").read()
        except (http.client.HTTPException, OSError):
            pass
    for index in range(3):
        reply = call(hostile_broker.url, "POST", f"{OCATA.v0}/t1/{index}/echo", body=b"{}")
        assert reply.status == 200, reply
        assert len(hostile_plugin.requests_to(f"{OCATA.plugin_v0}/t1/{index}/echo")) == 1


# 3. A cut plugin answer is never presented as whole ---------------------------

@pytest.mark.parametrize("mode", ["cut_chunked", "short_length"])
def test_short_answer_cut_before_sending_is_502(hostile_broker: BrokerProcess,
                                                mode: str) -> None:
    # Cut within the first bytes: nothing went to the client yet, so it gets a
    # proper 502, and its keep-alive connection goes on with the next request.
    conn = http.client.HTTPConnection("127.0.0.1", hostile_broker.port, timeout=15)
    try:
        conn.request("GET", f"{OCATA.v0}/t1/{mode}", headers={"X-TransactionID": f"{mode}-1"})
        first = conn.getresponse()
        body = first.read()
        conn.request("GET", "/api/multicloud/v0/vim_types")
        second = conn.getresponse()
        second_body = second.read()
    finally:
        conn.close()
    assert first.status == 502, body
    assert "multicloud-ocata" in json.loads(body)["error"]
    assert second.status == 200 and json.loads(second_body), second_body
    assert stderr_has(hostile_broker, "cut short", f"{mode}-1")


def test_chunked_answer_cut_after_start_aborts_the_client(hostile_broker: BrokerProcess) -> None:
    response = _get(hostile_broker, OCATA.v0 + "/t1/cut_chunked_big",
                    headers={"X-TransactionID": "cut-chunked-big"})
    assert response.status == 200  # the head had gone out before the cut
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    assert stderr_has(hostile_broker, "cut short", "cut-chunked-big")


def test_length_answer_cut_after_start_closes_the_client_connection(
        hostile_broker: BrokerProcess) -> None:
    # A keep-alive client pipelines a second request: its answer must never
    # arrive inside the first body; the connection ends where the plugin's did.
    request = (f"GET {OCATA.v0}/t1/short_length_big HTTP/1.1\r\nHost: x\r\n"
               "X-TransactionID: short-cl-big\r\n\r\n"
               "GET /api/multicloud/v0/vim_types HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    answer = _raw(hostile_broker.port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    assert f"Content-Length: {2 * BIG}".encode() in head
    assert body == b"x" * BIG, "the connection must end where the plugin's body ended"
    assert stderr_has(hostile_broker, "cut short", "short-cl-big")


def test_close_framed_answer_passed_on_whole(hostile_broker: BrokerProcess,
                                             hostile_plugin: HostilePlugin) -> None:
    reply = call(hostile_broker.url, "GET", OCATA.v0 + "/t1/close_framed")
    assert reply.status == 200, reply
    assert reply.body == b"c" * 5000
    again = call(hostile_broker.url, "GET", OCATA.v0 + "/t1/x/echo")
    assert again.status == 200, again


def test_length_with_chunked_answer_dechunked_without_stale_length(
        hostile_broker: BrokerProcess) -> None:
    reply = call(hostile_broker.url, "GET", OCATA.v0 + "/t1/cl_and_chunked")
    assert reply.status == 200, reply
    assert reply.body == b"a" * 15 + b"b" * 15
    assert reply.header("Content-Length") in (None, "30"), reply


# 5. Timeouts that say what happened; errors that name the plugin, not its URL --

def _no_read_upload(broker: BrokerProcess) -> str:
    body = b"u" * (16 << 20)  # beyond every socket buffer between broker and plugin
    reply = call(broker.url, "POST", OCATA.v0 + "/t1/no_read", body=body,
                 headers={"X-TransactionID": "stalled-upload"})
    return assert_json_error(reply, 504)


def test_stalled_upload_is_504_on_fresh_and_reused_connections(
        hostile_broker: BrokerProcess, hostile_plugin: HostilePlugin) -> None:
    # Fresh: the plugin has no connection from this broker (reset closed them).
    message = _no_read_upload(hostile_broker)
    assert "multicloud-ocata" in message and "request body" in message, message
    # Reused: a connection kept from a proper answer.
    assert call(hostile_broker.url, "GET", OCATA.v0 + "/t1/warm/echo").status == 200
    message = _no_read_upload(hostile_broker)
    assert "multicloud-ocata" in message and "request body" in message, message
    conn_ids = [r.conn_id for r in hostile_plugin.requests]
    assert conn_ids[1] == conn_ids[2], "the second upload was to reuse the warm connection"


def test_fault_bodies_name_the_plugin_not_its_url(hostile_broker: BrokerProcess,
                                                  hostile_plugin: HostilePlugin) -> None:
    for mode, status in (("hang", 504), ("reset", 502)):
        reply = call(hostile_broker.url, "GET", f"{OCATA.v0}/t1/{mode}",
                     headers={"X-TransactionID": f"fault-{mode}"})
        message = assert_json_error(reply, status)
        assert "multicloud-ocata" in message, message
        assert "127.0.0.1" not in message and str(hostile_plugin.port) not in message
        assert stderr_has(hostile_broker, hostile_plugin.url, f"fault-{mode}")


# 6b. Transaction ids ---------------------------------------------------------

@pytest.mark.parametrize("given", ["has space", "x" * 129, "<script>", "a%0ab", "tab\there",
                                   "ünicode"])
def test_malformed_transaction_id_replaced_and_logged(broker: BrokerProcess,
                                                      plugin: PluginServer, given: str) -> None:
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/txid",
                 headers=[("X-TransactionID", given.encode().decode("latin-1"))])
    assert reply.status == 200, reply
    replaced = reply.header("X-TransactionID")
    assert replaced != given and TXID.fullmatch(replaced), reply
    [seen] = plugin.requests
    assert seen.headers.get_all("X-TransactionID") == [replaced]
    assert stderr_has(broker, "replaced by " + replaced)


def test_valid_transaction_id_kept(broker: BrokerProcess, plugin: PluginServer) -> None:
    given = "Ab9._:-" + "z" * 121
    reply = call(broker.url, "GET", OCATA.v0 + "/t1/txid",
                 headers={"X-TransactionID": given})
    assert reply.header("X-TransactionID") == given
    [seen] = plugin.requests
    assert seen.headers.get_all("X-TransactionID") == [given]


# Issue 10: deadlines and bounded plugin connections ----------------------------

def test_trickling_plugin_cut_at_total_deadline(hostile_broker: BrokerProcess,
                                                hostile_plugin: HostilePlugin) -> None:
    # One byte every 0.2 s never trips read_timeout (1.5 s); total_timeout (2.5 s)
    # ends it: the answer had started, so the client connection is cut.
    response = _get(hostile_broker, OCATA.v0 + "/t1/trickle_started",
                    headers={"X-TransactionID": "trickle-1"})
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    [seen] = hostile_plugin.requests_to(OCATA.plugin_v0 + "/t1/trickle_started")
    assert hostile_plugin.wait_for(lambda: seen.conn_id in hostile_plugin.closed_by_peer,
                                   timeout=10), "the upstream connection stayed open"
    assert stderr_has(hostile_broker, "total_timeout", "trickle-1")


@pytest.mark.parametrize("mode", ["trickle", "trickle_head"])
def test_trickle_before_the_answer_is_504_at_total_deadline(hostile_broker: BrokerProcess,
                                                            mode: str) -> None:
    reply = call(hostile_broker.url, "GET", f"{OCATA.v0}/t1/{mode}")
    message = assert_json_error(reply, 504)
    assert "total deadline" in message, message


def test_hanging_plugin_holds_bounded_connections_others_unaffected(
        hostile_broker: BrokerProcess, hostile_plugin: HostilePlugin,
        plugin: PluginServer) -> None:
    limit = 4  # [plugins] max_connections_per_plugin of the hostile broker

    def hanging(index: int) -> int:
        reply = call(hostile_broker.url, "GET", f"{OCATA.v0}/t1/{index}/hang")
        assert_json_error(reply, (503, 504))
        return reply.status

    def other(index: int) -> int:
        reply = call(hostile_broker.url, "GET", f"{PIKE.v0}/t1/other/{index}")
        assert reply.json()["path"] == f"{PIKE.plugin_v0}/t1/other/{index}"
        return reply.status

    with ThreadPoolExecutor(max_workers=24) as pool:
        hung = [pool.submit(hanging, i) for i in range(16)]
        others = [pool.submit(other, i) for i in range(8)]
        statuses = [f.result() for f in hung]
        other_statuses = [f.result() for f in others]
    assert other_statuses == [200] * 8
    assert hostile_plugin.max_open <= limit, hostile_plugin.max_open
    assert statuses.count(503) >= 16 - 2 * limit, statuses


# Issue 21: calls queue for a plugin connection --------------------------------

def test_calls_beyond_the_bound_queue_for_a_healthy_plugin(
        hostile_broker: BrokerProcess, hostile_plugin: HostilePlugin) -> None:
    # 28 calls at once through 4 connections to a plugin answering each in
    # 0.2 s: the last ones wait about 1.2 s for a connection, longer than
    # connect_timeout (1 s), and are answered all the same.
    limit, calls = 4, 28

    def slow(index: int) -> int:
        return call(hostile_broker.url, "GET", f"{OCATA.v0}/t1/{index}/slow").status

    with ThreadPoolExecutor(max_workers=calls) as pool:
        statuses = list(pool.map(slow, range(calls)))
    assert statuses == [200] * calls
    assert hostile_plugin.max_open <= limit, hostile_plugin.max_open


def test_a_healthy_plugin_may_have_every_request_slot(
        crowded_broker: BrokerProcess, hostile_plugin: HostilePlugin) -> None:
    # Twice as many calls at once as the worker has request slots, to a
    # plugin answering each in 0.2 s: all answered, though at times every
    # slot holds a call to it (beyond the share a hanging plugin would get).
    def slow(index: int) -> int:
        return call(crowded_broker.url, "GET", f"{OCATA.v0}/t1/{index}/slow").status

    assert slow(-1) == 200  # it answers
    with ThreadPoolExecutor(max_workers=2 * CROWDED_SLOTS) as pool:
        statuses = list(pool.map(slow, range(2 * CROWDED_SLOTS)))
    assert statuses == [200] * (2 * CROWDED_SLOTS)
    assert hostile_plugin.max_open <= CROWDED_SLOTS // 2, hostile_plugin.max_open


def test_hanging_plugin_with_the_request_slots_full_leaves_others_answered(
        crowded_broker: BrokerProcess, hostile_plugin: HostilePlugin,
        plugin: PluginServer) -> None:
    # Twice as many clients as request slots keep calling a plugin that
    # hangs, without pause; another plugin's calls are still answered.
    flooding = threading.Event()
    hung: list[int] = []
    busy_before = _busy_count(crowded_broker, OCATA.plugin)

    def flood() -> None:
        while flooding.is_set():
            reply = call(crowded_broker.url, "GET", f"{OCATA.v0}/t1/flood/hang")
            assert_json_error(reply, (503, 504))
            hung.append(reply.status)

    flooding.set()
    with ThreadPoolExecutor(max_workers=2 * CROWDED_SLOTS) as pool:
        floods = [pool.submit(flood) for _ in range(2 * CROWDED_SLOTS)]
        try:
            # Connections default to half the request slots. None is given
            # back before read_timeout (1.5 s): a moment after the first
            # ones, every connection the broker would open is open.
            assert hostile_plugin.wait_for(
                lambda: hostile_plugin.open_connections >= CROWDED_SLOTS // 2)
            time.sleep(0.5)
            assert hostile_plugin.max_open == CROWDED_SLOTS // 2
            took = _other_calls(crowded_broker, seconds=4.0)
        finally:
            flooding.clear()
        for flooded in floods:
            flooded.result()  # every flooding call was answered (503 or 504)
    assert max(took) < 2.0, took
    # Calls left waiting for the hanging plugin left with 503, and were counted.
    assert hung.count(503) > 0, hung
    assert _busy_count(crowded_broker, OCATA.plugin) - busy_before == hung.count(503)


def _other_calls(broker: BrokerProcess, seconds: float) -> list[float]:
    """Calls to multicloud-pike, one after another for `seconds`: each one's time."""
    took = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.monotonic()
        reply = call(broker.url, "GET", f"{PIKE.v0}/t1/other/{len(took)}")
        took.append(time.monotonic() - started)
        assert reply.status == 200, reply
        time.sleep(0.1)
    return took


def _busy_count(broker: BrokerProcess, plugin: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families
    text = call(broker.url, "GET", "/metrics").body.decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               if family.name == "multicloud_broker_plugin_calls"
               for sample in family.samples
               if sample.name.endswith("_total") and sample.labels["plugin"] == plugin
               and sample.labels["outcome"] == "503_busy")


def test_client_gone_mid_upload_is_not_a_plugin_fault(hostile_broker: BrokerProcess,
                                                      hostile_plugin: HostilePlugin) -> None:
    with socket.create_connection(("127.0.0.1", hostile_broker.port), timeout=10) as sock:
        sock.sendall(f"PUT {OCATA.v0}/t1/upload/echo HTTP/1.1\r\nHost: x\r\n"
                     "X-TransactionID: gone-mid-upload\r\n"
                     "Content-Length: 1000000\r\n\r\n".encode() + b"p" * 200_000)
        # Gone once the broker has begun forwarding (a plugin connection is open).
        hostile_plugin.wait_for(lambda: hostile_plugin.open_connections > 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert stderr_has(hostile_broker, "gone-mid-upload", "client")
    log = hostile_broker.stderr_path.read_text(errors="replace")
    lines = [line for line in log.splitlines() if "gone-mid-upload" in line]
    assert not any("unexpected error" in line or "Traceback" in line for line in lines), lines
    assert not any("plugin multicloud-ocata at" in line for line in lines), lines
    # The plugin got no complete request, and the next one runs once.
    assert hostile_plugin.requests_to(OCATA.plugin_v0 + "/t1/upload/echo") == []
    reply = call(hostile_broker.url, "PUT", OCATA.v0 + "/t1/next/echo", body=b"{}")
    assert reply.status == 200, reply
    assert len(hostile_plugin.requests_to(OCATA.plugin_v0 + "/t1/next/echo")) == 1


def test_client_leaving_while_the_plugin_thinks_abandons_the_call(
        hostile_broker: BrokerProcess, hostile_plugin: HostilePlugin) -> None:
    # The plugin never answers; the client goes away first. The broker drops
    # the call and its plugin connection then, not at the read timeout.
    path = f"{OCATA.v0}/t1/abandoned/hang"
    sock = socket.create_connection(("127.0.0.1", hostile_broker.port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: broker\r\n"
                 "X-TransactionID: gone-1\r\n\r\n".encode())
    plugin_path = f"{OCATA.plugin_v0}/t1/abandoned/hang"
    assert hostile_plugin.wait_for(lambda: hostile_plugin.requests_to(plugin_path))
    [seen] = hostile_plugin.requests_to(plugin_path)
    sock.close()
    assert hostile_plugin.wait_for(lambda: seen.conn_id in hostile_plugin.closed_by_peer,
                                   timeout=10), "the plugin connection stayed open"
    assert stderr_has(hostile_broker, "client went away", "gone-1")
    assert not stderr_has(hostile_broker, "gone-1", "TooSlow", timeout=0.2)


def test_pipelined_next_request_does_not_abandon_the_call(
        hostile_broker: BrokerProcess) -> None:
    # Bytes from the client while the plugin thinks are its next request, not
    # a departure: the first call runs to its read timeout (504), the next
    # ones are answered after it, in order.
    request = "GET {} HTTP/1.1\r\nHost: broker\r\nX-TransactionID: {}\r\n\r\n"
    data = _raw(hostile_broker.port, (
        request.format(f"{OCATA.v0}/t1/pipelined/hang", "piped-1")
        + request.format(f"{OCATA.v0}/t1/pipelined/echo", "piped-2")
        + "GET /api/multicloud/v0/vim_types HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
    ).encode())
    statuses = re.findall(rb"HTTP/1.1 (\d{3}) ", data)
    assert statuses == [b"504", b"200", b"200"], data[:500]
    assert not stderr_has(hostile_broker, "client went away", "piped-1", timeout=0.2)

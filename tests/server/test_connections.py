"""Connections are cheap and bounded in time (issue 10, item 1), scaled down:
slow and idle clients hold no request slot, are cut at their deadlines, and
a worker over its connection limit refuses new ones at once. Real broker
processes (one worker, so every connection meets the same limits), raw
sockets, both frameworks."""

from __future__ import annotations

import socket
import time

import pytest

from tests.server.helpers import FRAMEWORKS, base_config, wait_until
from tests.server.rawhttp import (connect, exchange, parse, read_answer, read_until_close,
                                  request_bytes)
from tests.support.broker import BrokerProcess, region_add, write_config
from tests.support.client import request

VIM_TYPES = "/api/multicloud/v0/vim_types"
FORWARDED = "/api/multicloud/v0/proc_RegionOne/fast"
POOL, SLOWLORIS, IDLE = 20, 300, 100
HEADER_TIMEOUT, KEEPALIVE_TIMEOUT = 2.0, 1.5


def _start(tmp_path_factory, plugin, framework: str, name: str, **limits) -> BrokerProcess:
    tmp = tmp_path_factory.mktemp(f"{name}-{framework}")
    config = base_config(tmp, plugin, **limits)
    write_config(tmp / "region.conf", config)
    region_add(tmp / "region.conf", "proc", "RegionOne", "openstack", "ocata")
    return BrokerProcess(tmp, config, web_framework=framework, workers=1,
                         name=f"{name}-{framework}").start()


@pytest.fixture(scope="module", params=FRAMEWORKS)
def broker(server_backend, request, tmp_path_factory, plugin):
    broker = _start(tmp_path_factory, plugin, request.param, "conns",
                    wsgi_pool_size=POOL, max_connections=1000,
                    client_header_timeout=HEADER_TIMEOUT,
                    keepalive_timeout=KEEPALIVE_TIMEOUT, client_body_timeout=2)
    yield broker
    broker.stop()


class Slowloris:
    """Connections that send a request line, then a header line now and then."""

    def __init__(self, port: int, count: int):
        self.socks = [connect(port) for _ in range(count)]
        for sock in self.socks:
            sock.sendall(f"GET {VIM_TYPES} HTTP/1.1\r\nHost: x\r\n".encode())

    def drip(self) -> None:
        for sock in self.socks:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass  # already cut by the broker

    def answers(self, timeout: float) -> list:
        replies = []
        for sock in self.socks:
            data, closed = read_until_close(sock, timeout)
            replies.append(parse(data, closed) if data else None)
            sock.close()
        return replies


def _idle_keepalive(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = connect(port)
        sock.sendall(request_bytes("GET", VIM_TYPES))
        assert read_answer(sock).status == 200
        socks.append(sock)
    return socks


def test_slow_and_idle_clients_hold_no_request_slot(broker):
    """300 slowloris and 100 idle kept-alive connections against 20 request
    slots: every normal request is answered, and the slow ones get 408."""
    idle = _idle_keepalive(broker.port, IDLE)
    slow = Slowloris(broker.port, SLOWLORIS)
    statuses = []
    try:
        for _ in range(10):
            slow.drip()
            statuses.append(request(broker.url, "GET", VIM_TYPES, timeout=10).status)
            statuses.append(request(broker.url, "GET", FORWARDED, timeout=10).status)
        slow.drip()
        replies = slow.answers(timeout=HEADER_TIMEOUT + 10)
    finally:
        for sock in idle:
            sock.close()
    assert statuses == [200] * 20
    assert [r and r.status for r in replies] == [408] * SLOWLORIS
    assert all(r.closed and "request head" in r.json()["error"] for r in replies)


def test_slowloris_is_cut_at_the_header_deadline_while_still_sending(broker):
    with connect(broker.port) as sock:
        sock.sendall(f"GET {VIM_TYPES} HTTP/1.1\r\n".encode())
        data = b""
        for _ in range(int(HEADER_TIMEOUT * 10)):  # five times the deadline
            time.sleep(0.1)
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            sock.settimeout(0.001)
            try:
                data += sock.recv(4096)
            except socket.timeout:
                continue
            if data:
                break
        data += read_until_close(sock, timeout=5)[0]
    reply = parse(data, closed=True)
    assert reply.status == 408, reply
    assert reply.headers["connection"] == "close"


def test_silent_connection_gets_408_at_the_header_deadline(broker):
    with connect(broker.port) as sock:
        data, closed = read_until_close(sock, timeout=HEADER_TIMEOUT + 10)
    reply = parse(data, closed)
    assert reply.status == 408 and reply.closed, reply


def test_idle_keepalive_connection_is_closed_silently(broker):
    with connect(broker.port) as sock:
        sock.sendall(request_bytes("GET", VIM_TYPES))
        assert read_answer(sock).status == 200
        data, closed = read_until_close(sock, timeout=KEEPALIVE_TIMEOUT + 10)
    assert closed and data == b""


def test_busy_keepalive_connection_is_kept(broker):
    """Requests closer together than keepalive_timeout share one connection
    for longer than the timeout."""
    with connect(broker.port) as sock:
        for _ in range(4):
            sock.sendall(request_bytes("GET", VIM_TYPES))
            reply = read_answer(sock)
            assert reply.status == 200 and not reply.closed, reply
            time.sleep(KEEPALIVE_TIMEOUT / 2)


@pytest.fixture(scope="module", params=FRAMEWORKS)
def small_broker(server_backend, request, tmp_path_factory, plugin):
    broker = _start(tmp_path_factory, plugin, request.param, "limit",
                    max_connections=30, client_header_timeout=30)
    yield broker
    broker.stop()


def _hold(port: int, count: int) -> list[socket.socket]:
    """`count` kept-alive connections, each answered once (so surely accepted).
    One refused while the start-up probe's connection was still open is replaced."""
    held: list[socket.socket] = []
    for _ in range(count + 5):
        sock = connect(port)
        sock.sendall(request_bytes("GET", VIM_TYPES))
        if read_answer(sock).status == 200:
            held.append(sock)
            if len(held) == count:
                return held
        else:
            sock.close()
            time.sleep(0.1)
    raise AssertionError(f"could not hold {count} connections")


def test_connections_beyond_the_limit_are_refused_at_once(small_broker):
    held = _hold(small_broker.port, 30)
    try:
        reply = exchange(small_broker.port, request_bytes("GET", VIM_TYPES), timeout=10)
        assert reply.status == 503 and reply.closed, reply
        assert "connection limit" in reply.json()["error"]
        # The held connections are still served.
        held[1].sendall(request_bytes("GET", VIM_TYPES))
        assert read_answer(held[1]).status == 200
    finally:
        for sock in held:
            sock.close()
    # Once they are gone, new connections are served again.
    time.sleep(0.2)
    assert request(small_broker.url, "GET", VIM_TYPES).status == 200


def test_a_client_pipelining_many_requests_does_not_hold_the_worker(broker):
    """A kept-alive connection's next request waits its turn: another client
    is served while a pipeline of 200 requests is, not after all of them
    (the access log, written as each request ends, gives the order)."""
    swagger = "/api/multicloud/v0/swagger.json"
    logged_before = broker.stdout_path.stat().st_size
    greedy = connect(broker.port)
    try:
        greedy.sendall(request_bytes("GET", VIM_TYPES) * 200)
        assert greedy.recv(1)  # the worker is serving the pipeline
        other = exchange(broker.port, request_bytes("GET", swagger, [("Connection", "close")]))
        assert other.status == 200
    finally:
        greedy.close()

    def served() -> list[str]:
        with broker.stdout_path.open() as log:
            log.seek(logged_before)
            return [line for line in log if VIM_TYPES in line or swagger in line]
    wait_until(lambda: any(swagger in line for line in served()))
    ahead = next(i for i, line in enumerate(served()) if swagger in line)
    assert ahead < 100, f"{ahead} pipelined requests were served before the other client's"

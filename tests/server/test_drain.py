"""A stopping worker finishes every connection it has accepted (issue 10,
item 2, drain part): requests not read yet are still served (with
Connection: close), in-flight ones finish, idle kept-alive connections are
closed, all within graceful_shutdown_timeout. Real brokers, SIGTERM by PID,
raw sockets, both frameworks, one worker (in the bootstrap) and two (forked)."""

from __future__ import annotations

import time

import pytest

from tests.server.helpers import FRAMEWORKS, SLOW_PATH, base_config, stderr_lines, wait_until
from tests.server.rawhttp import connect, read_answer, read_until_close, request_bytes
from tests.support.broker import BrokerProcess, region_add, write_config

VIM_TYPES = "/api/multicloud/v0/vim_types"
SLOW = "/api/multicloud/v0/proc_RegionOne/slow"  # the plugin answers after 1 s
HANG = "/api/multicloud/v0/proc_RegionOne/hang"
PLUGIN_HANG = "/api/multicloud-ocata/v0/proc_RegionOne/hang"


def _start(tmp_path, plugin, framework: str, workers: int, grace: float) -> BrokerProcess:
    config = base_config(tmp_path, plugin, graceful_shutdown_timeout=grace,
                         client_header_timeout=30, keepalive_timeout=30)
    write_config(tmp_path / "region.conf", config)
    region_add(tmp_path / "region.conf", "proc", "RegionOne", "openstack", "ocata")
    return BrokerProcess(tmp_path, config, web_framework=framework, workers=workers,
                         name="drain").start()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_stop_serves_accepted_connections_and_closes_idle_ones(tmp_path, plugin,
                                                              framework, workers):
    broker = _start(tmp_path, plugin, framework, workers, grace=20)
    try:
        idle = connect(broker.port)
        idle.sendall(request_bytes("GET", VIM_TYPES))
        assert read_answer(idle).status == 200
        in_flight = connect(broker.port)
        in_flight.sendall(request_bytes("GET", SLOW))
        fresh = [connect(broker.port) for _ in range(5)]  # accepted, nothing sent yet
        time.sleep(0.5)  # let the workers accept them all (out of the backlog)

        broker.terminate()
        # The idle kept-alive connection is closed without an answer: the drain began.
        assert read_until_close(idle, timeout=15) == (b"", True)
        # Every worker has begun it (the idle one told of one worker only).
        wait_until(lambda: len(stderr_lines(broker, " draining: ")) == workers)
        for sock in fresh:
            sock.sendall(request_bytes("GET", VIM_TYPES))
        replies = [read_answer(sock, timeout=15) for sock in fresh]
        slow_reply = read_answer(in_flight, timeout=15)
    finally:
        broker.stop()
    assert [r.status for r in replies] == [200] * len(fresh), replies
    assert all(r.headers.get("connection") == "close" for r in replies), replies
    assert slow_reply.status == 200, slow_reply
    assert slow_reply.json() == {"slow": True}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_drain_is_bounded_by_graceful_shutdown_timeout(tmp_path, plugin, framework):
    plugin.respond(PLUGIN_HANG, json_body={"late": True}, delay=8)
    broker = _start(tmp_path, plugin, framework, workers=1, grace=1)
    try:
        with connect(broker.port) as sock:
            sock.sendall(request_bytes("GET", HANG))
            plugin.wait_for(PLUGIN_HANG, timeout=5)
            broker.terminate()
            data, closed = read_until_close(sock, timeout=20)
            # The worker gave up on the request at the deadline: no late answer.
            assert closed and b"late" not in data, data
            assert broker._proc.poll() is not None or broker.wait_stopped(5) is not None
    finally:
        broker.stop()

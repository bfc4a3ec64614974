"""Kept-alive connections are spread over the workers (issue 13, item 5):
each worker accepts on a listening socket of its own, so a burst of
connections lands evenly, also after a worker was killed and respawned or
replaced by a reload; and a port in use still stops start-up. Real brokers
with 2 workers and raw kept-alive connections."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.server.helpers import base_config, wait_until, worker_pids
from tests.server.rawhttp import connect, read_answer, request_bytes
from tests.support.broker import BrokerProcess, broker_env

VIM_TYPES = "/api/multicloud/v0/vim_types"
CONNECTIONS = 100
# With an even spread each of 2 workers gets Binomial(100, 1/2) connections:
# fewer than 25 has a probability below 1e-6.
FAIR_SHARE = 25


@pytest.fixture
def broker(tmp_path, plugin):
    # The sockets are the server's, whichever framework: one is enough here.
    broker = BrokerProcess(tmp_path, base_config(tmp_path, plugin), web_framework="pecan",
                           workers=2, name="spread").start()
    wait_until(lambda: len(worker_pids(broker.pid)) == 2)
    yield broker
    broker.stop()


def _burst(broker: BrokerProcess, tag: str) -> collections.Counter:
    """CONNECTIONS kept-alive connections opened at once, one request each,
    held open until every answer is in: how many each worker pid served."""
    socks = [connect(broker.port) for _ in range(CONNECTIONS)]
    try:
        for n, sock in enumerate(socks):
            sock.sendall(request_bytes("GET", VIM_TYPES, [("X-TransactionID", f"{tag}-{n}")]))
        assert all(read_answer(sock).status == 200 for sock in socks)
    finally:
        for sock in socks:
            sock.close()
    return collections.Counter(wait_until(lambda: _served_by(broker, tag)))


def _served_by(broker: BrokerProcess, tag: str) -> list[str] | None:
    """The pid field of the access-log lines of `tag`'s requests, once all are logged."""
    pids = [fields[2] for fields in (line.split() for line in
                                     broker.stdout_path.read_text().splitlines())
            if len(fields) == 10 and fields[-1].startswith(f"{tag}-")]
    return pids if len(pids) == CONNECTIONS else None


def _assert_fair(served: collections.Counter, workers: set[int]) -> None:
    assert set(map(int, served)) == workers, served
    assert min(served.values()) >= FAIR_SHARE, served


def test_a_burst_of_kept_alive_connections_is_spread_over_the_workers(broker):
    _assert_fair(_burst(broker, "first"), worker_pids(broker.pid))


def test_a_respawned_worker_takes_its_share_again(broker):
    killed = min(worker_pids(broker.pid))
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: killed not in worker_pids(broker.pid)
               and len(worker_pids(broker.pid)) == 2)
    _assert_fair(_burst(broker, "respawned"), worker_pids(broker.pid))


def test_workers_replaced_by_a_reload_take_their_shares(broker):
    old = worker_pids(broker.pid)
    os.kill(broker.pid, signal.SIGHUP)
    wait_until(lambda: (lambda now: len(now) == 2 and not now & old)(worker_pids(broker.pid)),
               timeout=30)
    _assert_fair(_burst(broker, "reloaded"), worker_pids(broker.pid))


def test_a_port_in_use_stops_a_server_of_several_workers(broker, tmp_path):
    """The sockets share their port with each other only: a second broker
    on the port (or anything else listening there) is refused at start."""
    done = subprocess.run(
        [sys.executable, "-m", "multicloud_broker", "serve", "--workers", "2",
         "--bind-host", "127.0.0.1", "--bind-port", str(broker.port)],
        capture_output=True, text=True, timeout=60, env=broker_env(None), cwd=str(tmp_path))
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{broker.port}" in done.stderr
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5):
        pass  # the first broker still listens

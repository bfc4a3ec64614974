"""The server's processes: workers, concurrency, faults, signals, TLS, bursts.

Each test runs against a real `multicloud-broker serve` under both frameworks.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.server.burst import burst
from tests.support.broker import write_config
from tests.support.upstreams import ClosedPort, PluginServer
from tests.server.helpers import (FAST_PATH, SLOW_PATH, base_config, https_get,
                                  self_signed, usable_cpus, wait_until, worker_pids)
from tests.support.client import request

VIM_TYPES = "/api/multicloud/v0/vim_types"
SLOW = "/api/multicloud/v0/proc_RegionOne/slow"
FAST = "/api/multicloud/v0/proc_RegionOne/fast"


def test_default_workers_are_the_usable_cpus(make_broker):
    broker = make_broker(workers=None)
    expected = usable_cpus()
    if expected == 1:  # one CPU: served in the bootstrap process, no fork
        assert worker_pids(broker.pid) == set()
    else:
        assert len(wait_until(lambda: len(worker_pids(broker.pid)) == expected
                              and worker_pids(broker.pid))) == expected
    assert f"{expected} worker(s)" in broker.output()


def test_workers_flag_sets_the_count(make_broker):
    broker = make_broker(workers=3)
    pids = wait_until(lambda: len(worker_pids(broker.pid)) == 3 and worker_pids(broker.pid))
    assert len(pids) == 3
    wait_until(lambda: all(f"worker {pid} serving" in broker.output() for pid in pids))


@pytest.mark.timeout(30)
def test_slow_upstream_calls_are_served_at_once(make_broker, plugin):
    broker = make_broker(workers=2)
    calls = 40  # 1 s each upstream: 40 s if served one after another
    with ThreadPoolExecutor(calls) as pool:
        replies = list(pool.map(lambda _: request(broker.url, "GET", SLOW, timeout=25),
                                range(calls)))
    assert [r.status for r in replies] == [200] * calls
    assert all(r.json() == {"slow": True} for r in replies)


def test_a_killed_worker_is_replaced_and_others_serve(make_broker):
    broker = make_broker(workers=2)
    before = wait_until(lambda: len(worker_pids(broker.pid)) == 2 and worker_pids(broker.pid))
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    replies = [request(broker.url, "GET", VIM_TYPES) for _ in range(50)]
    assert [r.status for r in replies] == [200] * 50
    after = wait_until(lambda: len(worker_pids(broker.pid)) == 2 and worker_pids(broker.pid))
    assert victim not in after


@pytest.mark.timeout(40)
def test_sigterm_drains_in_flight_requests_then_exits(make_broker, plugin):
    plugin.clear_requests()
    broker = make_broker(workers=2)
    workers = wait_until(lambda: len(worker_pids(broker.pid)) == 2 and worker_pids(broker.pid))
    with ThreadPoolExecutor(4) as pool:
        pending = [pool.submit(request, broker.url, "GET", SLOW, timeout=20) for _ in range(4)]
        wait_until(lambda: len(plugin.requests_to(SLOW_PATH)) == 4)  # all in flight
        os.kill(broker.pid, signal.SIGTERM)
        replies = [f.result() for f in pending]
    assert [r.status for r in replies] == [200] * 4
    assert broker._proc.wait(timeout=25) == 0
    assert not any(_exists(pid) for pid in workers)
    with pytest.raises(OSError):
        request(broker.url, "GET", VIM_TYPES, timeout=2)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(60)
def test_sighup_replaces_workers_without_failing_requests(make_broker):
    broker = make_broker(workers=2)
    old = wait_until(lambda: len(worker_pids(broker.pid)) == 2 and worker_pids(broker.pid))
    stop = threading.Event()
    statuses: list[int] = []
    errors: list[str] = []

    def client() -> None:
        while not stop.is_set():
            try:
                statuses.append(request(broker.url, "GET", FAST, timeout=10).status)
            except OSError as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(statuses) > 50)
        os.kill(broker.pid, signal.SIGHUP)
        new = wait_until(lambda: (lambda p: len(p) == 2 and not p & old and p)(
            worker_pids(broker.pid)), timeout=30)
        count = len(statuses)
        wait_until(lambda: len(statuses) > count + 50)  # served by the new workers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert errors == []
    assert set(statuses) == {200}
    assert new.isdisjoint(old)


def test_https_with_a_generated_certificate(make_broker, tmp_path, plugin):
    cert, key = self_signed(tmp_path)
    config = base_config(tmp_path, plugin)
    config["ssl"] = {"enabled": True, "cert_file": cert, "key_file": key}
    broker = make_broker(workers=2, config=config, https=True)
    context = ssl.create_default_context(cafile=cert)  # verifies against our cert
    for _ in range(6):  # fresh connections, spread over the workers
        status, body = https_get(broker.port, VIM_TYPES, context)
        assert status == 200
        assert json.loads(body)[0]["vim_type"] == "openstack"
    with pytest.raises((OSError, http.client.HTTPException)):
        request(broker.url, "GET", VIM_TYPES, timeout=3)  # plain HTTP is not served


@pytest.mark.timeout(90)
def test_a_burst_of_1000_connections_all_answered(make_broker):
    broker = make_broker(workers=2)
    result = burst("127.0.0.1", broker.port, VIM_TYPES, connections=1000, timeout=60)
    assert result.errors == []
    assert result.statuses == [200] * 1000


def test_sighup_applies_the_edited_config_file(make_broker, tmp_path, plugin):
    broker = make_broker(workers=2)
    old = wait_until(lambda: len(worker_pids(broker.pid)) == 2 and worker_pids(broker.pid))
    assert request(broker.url, "GET", FAST).status == 200
    with PluginServer() as other:
        other.respond(FAST_PATH, status=203, json_body={"from": "the other plugin"})
        config = base_config(tmp_path, plugin)
        config["plugins"]["endpoints"] = {"multicloud-ocata": other.url}
        write_config(broker.config_file, config)
        os.kill(broker.pid, signal.SIGHUP)
        wait_until(lambda: (lambda p: len(p) == 2 and not p & old)(worker_pids(broker.pid)))
        reply = request(broker.url, "GET", FAST)
    assert reply.status == 203
    assert reply.json() == {"from": "the other plugin"}


def test_logs_carry_the_transaction_id(make_broker, tmp_path, plugin):
    config = base_config(tmp_path, plugin)
    with ClosedPort() as closed:
        config["plugins"]["endpoints"] = {"multicloud-ocata": f"http://127.0.0.1:{closed.port}"}
        broker = make_broker(workers=1, config=config)
        reply = request(broker.url, "GET", FAST, headers={"X-TransactionID": "txn-log-42"})
    assert reply.status == 502
    assert reply.header("X-TransactionID") == "txn-log-42"
    # the access line and the application's warning both name the transaction
    wait_until(lambda: "txn-log-42" in broker.stdout_path.read_text())
    wait_until(lambda: "[txn-log-42]" in broker.stderr_path.read_text())
    access = [l for l in broker.stdout_path.read_text().splitlines() if "txn-log-42" in l]
    assert len(access) == 1 and " GET " in access[0] and " 502 " in access[0]


def test_access_log_to_a_configured_file(make_broker, tmp_path, plugin):
    log_file = tmp_path / "logs" / "access.log"
    broker = make_broker(workers=2, config=base_config(tmp_path, plugin, access_log=log_file))
    for _ in range(10):
        assert request(broker.url, "GET", VIM_TYPES).status == 200
    lines = wait_until(lambda: (lambda t: len(t) == 10 and t)(
        [l for l in log_file.read_text().splitlines() if VIM_TYPES in l]))
    for line in lines:  # time, pid, method, path, status, outcome, duration, bytes, txid
        date, clock, pid, method, path, status, outcome, took, sent, txid = line.split()
        assert (method, path, status, outcome) == ("GET", VIM_TYPES, "200", "done")
        assert int(sent) > 0
        assert int(pid) in worker_pids(broker.pid) and took.endswith("ms") and len(txid) == 32
    assert VIM_TYPES not in broker.stdout_path.read_text()

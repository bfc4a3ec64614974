"""A real Prometheus scrapes a 2-worker broker: the totals it stores are the
traffic sent, whichever worker answered each scrape, and a worker killed and
respawned loses no count and doubles none. Both frameworks."""

from __future__ import annotations

import http.client
import os
import signal
import time

import pytest

from tests.server.helpers import base_config, wait_until, worker_pids
from tests.support.broker import region_add
from tests.support.prometheus import PrometheusServer, prometheus_binary
from tests.support.upstreams import ClosedPort

# The plugin answers FAST (tests/server/conftest.py); pike's plugin is a closed port.
FAST_PATH = "/api/multicloud/v0/proc_RegionOne/fast"
DEAD_PATH = "/api/multicloud/v0/proc_Dead/servers"
FORWARD_ROUTE = "/api/multicloud/v0/{vimid}/{rest}"


@pytest.fixture(scope="module")
def prometheus_path() -> str:
    binary, why = prometheus_binary()
    if binary is None:
        pytest.skip(f"no Prometheus server to test against: {why}")
    return binary


@pytest.fixture
def scraped(tmp_path, plugin, make_broker, prometheus_path):
    """(broker with 2 workers, Prometheus scraping it every second)."""
    with ClosedPort() as dead:
        config = base_config(tmp_path, plugin)
        config["plugins"]["endpoints"] = {"multicloud-ocata": plugin.url,
                                          "multicloud-pike": dead.url}
        broker = make_broker(workers=2, config=config)
        region_add(tmp_path / "region.conf", "proc", "Dead", "openstack", "pike")
        workdir = tmp_path / "prometheus"
        workdir.mkdir()
        with PrometheusServer(prometheus_path, workdir, [f"127.0.0.1:{broker.port}"]) as prom:
            prom.wait_scrape_after(0)
            yield broker, prom


def _get(port: int, path: str) -> int:
    """One GET on a fresh connection (the kernel spreads them over the workers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def _send(port: int, path: str, count: int, status: int) -> None:
    assert [_get(port, path) for _ in range(count)] == [status] * count


def _totals(prom: PrometheusServer) -> dict[str, float]:
    """What Prometheus holds now, summed over the broker's series."""
    queries = {
        "forwarded": f'sum(multicloud_broker_requests_total{{route="{FORWARD_ROUTE}",'
                     'method="GET",status="200"})',
        "faults": f'sum(multicloud_broker_requests_total{{route="{FORWARD_ROUTE}",'
                  'method="GET",status="502"})',
        "plugin_2xx": 'sum(multicloud_broker_plugin_calls_total{plugin="multicloud-ocata",'
                      'outcome="2xx"})',
        "plugin_502": 'sum(multicloud_broker_plugin_calls_total{plugin="multicloud-pike",'
                      'outcome="502"})',
        "plugin_timed": 'sum(multicloud_broker_plugin_call_duration_seconds_count)',
        "route_timed": f'sum(multicloud_broker_request_duration_seconds_count'
                       f'{{route="{FORWARD_ROUTE}"}})',
        "lookups": 'sum(multicloud_broker_inventory_lookups_total{backend="sqlite",'
                   'outcome="found"})',
        "starts": "sum(multicloud_broker_worker_starts_total)",
        "unexpected_exits": 'sum(multicloud_broker_worker_exits_total{reason="unexpected"})',
        "workers_reporting": "count(multicloud_broker_worker_request_slots)",
    }
    return {name: prom.value(expr) or 0.0 for name, expr in queries.items()}


def _settled(prom: PrometheusServer) -> dict[str, float]:
    """The totals of a scrape that started after everything sent so far was answered."""
    prom.wait_scrape_after(time.time())
    return _totals(prom)


def test_scraped_totals_equal_the_traffic_sent(scraped, framework):
    broker, prom = scraped
    before = _settled(prom)
    forwarded, faults = 37, 11
    _send(broker.port, FAST_PATH, forwarded, 200)
    _send(broker.port, DEAD_PATH, faults, 502)
    after = _settled(prom)
    sent = {name: after[name] - before[name] for name in after}
    print(f"{framework}: sent {forwarded} forwarded + {faults} faults; scraped {sent}")
    assert sent["forwarded"] == sent["plugin_2xx"] == forwarded
    assert sent["faults"] == sent["plugin_502"] == faults
    assert sent["plugin_timed"] == sent["route_timed"] == sent["lookups"] == forwarded + faults
    assert after["starts"] == 2 and after["workers_reporting"] == 2
    assert prom.value(f'multicloud_broker_build_info{{framework="{framework}"}}') == 1
    # Answered by either worker, /metrics gives the same whole-server figures.
    seen = {_forwarded_in_answer(broker.port) for _ in range(10)}
    assert seen == {after["forwarded"]}


def _metrics_text(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        answer = conn.getresponse()
        assert answer.status == 200
        assert answer.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
        return answer.read().decode()
    finally:
        conn.close()


def _forwarded_in_answer(port: int) -> float:
    """requests_total of the forwarded route with status 200, as one /metrics tells."""
    text = _metrics_text(port)
    prefix = 'multicloud_broker_requests_total{method="GET",route="%s",status="200"} ' \
        % FORWARD_ROUTE
    return sum(float(line[len(prefix):]) for line in text.splitlines()
               if line.startswith(prefix))


def test_a_killed_worker_loses_no_count_and_doubles_none(scraped, framework):
    broker, prom = scraped
    before = _settled(prom)
    _send(broker.port, FAST_PATH, 20, 200)
    _send(broker.port, DEAD_PATH, 5, 502)
    workers = worker_pids(broker.pid)
    assert len(workers) == 2
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(worker_pids(broker.pid) - {victim}) == 2)
    _send(broker.port, FAST_PATH, 15, 200)
    after = _settled(prom)
    sent = {name: after[name] - before[name] for name in after}
    print(f"{framework}: sent 35 forwarded + 5 faults around a SIGKILL; scraped {sent}")
    assert sent["forwarded"] == sent["plugin_2xx"] == 35
    assert sent["faults"] == sent["plugin_502"] == 5
    assert sent["lookups"] == 40
    assert sent["starts"] == 1 and sent["unexpected_exits"] == 1
    # The dead worker's live gauges are gone; the new one reports its own.
    assert after["workers_reporting"] == 2


def test_debug_log_tells_each_forwarded_requests_routing_once(tmp_path, plugin, make_broker,
                                                               framework):
    """Issue 11 item 5: at log level debug, one line per forwarded request with
    region, cloud type and version, plugin, base URL and inventory source."""
    config = base_config(tmp_path, plugin, log_level="DEBUG")
    broker = make_broker(workers=1, config=config)
    txids = [f"routing-{framework}-{n}" for n in range(3)]
    for txid in txids:
        conn = http.client.HTTPConnection("127.0.0.1", broker.port, timeout=10)
        conn.request("GET", FAST_PATH, headers={"X-TransactionID": txid})
        assert conn.getresponse().status == 200
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", broker.port, timeout=10)
    conn.request("GET", "/api/multicloud/v0/vim_types", headers={"X-TransactionID": "own"})
    assert conn.getresponse().status == 200
    conn.close()
    expected = ("routing GET /api/multicloud-ocata/v0/proc_RegionOne/fast: region "
                "proc/RegionOne, cloud openstack ocata, plugin multicloud-ocata at "
                f"{plugin.url}, inventory sqlite")
    def routing_lines() -> list[str]:
        return [line for line in broker.stderr_path.read_text(errors="replace").splitlines()
                if ": routing " in line]

    wait_until(lambda: len(routing_lines()) >= len(txids), timeout=5)
    time.sleep(0.3)  # a line too many would show by now
    routing = routing_lines()
    for txid in txids:
        mine = [line for line in routing if f"[{txid}]" in line]
        assert len(mine) == 1, routing
        assert mine[0].endswith(expected) and " DEBUG " in mine[0]
    assert len(routing) == len(txids)  # vim_types is answered by the broker: no routing
    assert "multicloud_broker_worker_starts_total 1.0" in _metrics_text(broker.port)


def test_a_reload_keeps_every_count(tmp_path, plugin, make_broker, framework):
    """SIGHUP replaces both workers one at a time: counts made before and
    after add up, read from either new worker."""
    broker = make_broker(workers=2, config=base_config(tmp_path, plugin))
    _send(broker.port, FAST_PATH, 12, 200)
    old = worker_pids(broker.pid)
    assert len(old) == 2
    os.kill(broker.pid, signal.SIGHUP)
    wait_until(lambda: len(worker_pids(broker.pid)) == 2 and not worker_pids(broker.pid) & old,
               timeout=30)
    _send(broker.port, FAST_PATH, 8, 200)
    assert {_forwarded_in_answer(broker.port) for _ in range(6)} == {20}
    text = _metrics_text(broker.port)
    assert 'multicloud_broker_worker_exits_total{reason="retired"} 2.0' in text
    assert "multicloud_broker_worker_starts_total 4.0" in text

"""The per-worker A&AI cache as A&AI sees it: one lookup per region, however busy.

Synchronised on events, not on a window of time: the test holds A&AI's answer
(AAIServer.gate) while the burst arrives, so how fast the machine is does not
change what A&AI sees. The only sleeps make sure a cache entry has expired.
"""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from tests.server.helpers import FAST_PATH, wait_until
from tests.support.broker import BrokerProcess
from tests.support.client import request
from tests.support.upstreams import LOCALHOST, AAIServer

FAST = "/api/multicloud/v0/proc_RegionOne/fast"
LOOKUP = "/aai/v13/cloud-infrastructure/cloud-regions/cloud-region/proc/RegionOne"
TTL = 2.0
CALLS = 40


@pytest.fixture
def aai():
    with AAIServer() as server:
        server.add_region("proc", "RegionOne", "openstack", "ocata")
        yield server


class Burst:
    """CALLS requests on their own connections; `sent` once every one is written."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.statuses: list[int] = []
        self._written = threading.Semaphore(0)
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._one) for _ in range(CALLS)]
        for thread in self.threads:
            thread.start()

    def _one(self) -> None:
        conn = http.client.HTTPConnection(LOCALHOST, self.port, timeout=30)
        try:
            conn.request("GET", FAST)
            self._written.release()
            status = conn.getresponse().status
        finally:
            conn.close()
        with self._lock:
            self.statuses.append(status)

    def wait_sent(self) -> None:
        for _ in range(CALLS):
            assert self._written.acquire(timeout=20)

    def done(self) -> int:
        with self._lock:
            return len(self.statuses)

    def finish(self) -> list[int]:
        for thread in self.threads:
            thread.join(30)
        return self.statuses


@pytest.mark.parametrize("framework", ["django", "pecan"])
def test_a_burst_costs_a_worker_one_lookup_even_when_the_entry_expires(
        tmp_path, plugin, aai, framework):
    config = {"inventory": {"backend": "aai", "cache_ttl": TTL},
              "aai": {"protocol": "http", "host": "127.0.0.1", "port": aai.port},
              "plugins": {"endpoints": {"multicloud-ocata": plugin.url}}}
    with BrokerProcess(tmp_path, config, web_framework=framework, workers=1) as broker:
        # Nothing cached: the first request's lookup is held until all are sent.
        aai.gate.clear()
        burst = Burst(broker.port)
        burst.wait_sent()
        wait_until(lambda: aai.requests_to(LOOKUP))
        aai.gate.set()
        assert burst.finish() == [200] * CALLS
        assert len(aai.requests_to(LOOKUP)) == 1

        time.sleep(TTL + 0.2)  # expired for sure
        # One request refreshes (held); all the others are answered meanwhile,
        # from the expired entry, without asking A&AI.
        aai.gate.clear()
        burst = Burst(broker.port)
        wait_until(lambda: burst.done() == CALLS - 1, timeout=20)
        assert len(aai.requests_to(LOOKUP)) == 2
        aai.gate.set()
        assert burst.finish() == [200] * CALLS
        assert len(aai.requests_to(LOOKUP)) == 2

        aai.remove_region("proc", "RegionOne")
        time.sleep(TTL + 0.2)
        assert request(broker.url, "GET", FAST).status == 404  # gone: not hidden by the cache
    assert len(plugin.requests_to(FAST_PATH)) >= 2 * CALLS

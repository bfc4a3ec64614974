"""The per-worker A&AI cache as A&AI sees it: one lookup per region, however busy."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.server.helpers import FAST_PATH
from tests.support.broker import BrokerProcess
from tests.support.client import request
from tests.support.upstreams import AAIServer

FAST = "/api/multicloud/v0/proc_RegionOne/fast"
LOOKUP = "/aai/v13/cloud-infrastructure/cloud-regions/cloud-region/proc/RegionOne"
TTL = 1.0
CALLS = 40


@pytest.fixture
def slow_aai():
    with AAIServer() as server:
        server.add_region("proc", "RegionOne", "openstack", "ocata")
        server.delay = 0.5  # long enough for every concurrent request to arrive meanwhile
        yield server


def _burst(url: str) -> list[int]:
    with ThreadPoolExecutor(CALLS) as pool:
        return list(pool.map(lambda _: request(url, "GET", FAST).status, range(CALLS)))


@pytest.mark.parametrize("framework", ["django", "pecan"])
def test_a_burst_costs_a_worker_one_lookup_even_when_the_entry_expires(
        tmp_path, plugin, slow_aai, framework):
    config = {"inventory": {"backend": "aai", "cache_ttl": TTL},
              "aai": {"protocol": "http", "host": "127.0.0.1", "port": slow_aai.port},
              "plugins": {"endpoints": {"multicloud-ocata": plugin.url}}}
    with BrokerProcess(tmp_path, config, web_framework=framework, workers=1) as broker:
        assert _burst(broker.url) == [200] * CALLS  # nothing cached yet
        assert len(slow_aai.requests_to(LOOKUP)) == 1
        time.sleep(TTL + 0.2)
        assert _burst(broker.url) == [200] * CALLS  # expired: one refresh, the rest served
        assert len(slow_aai.requests_to(LOOKUP)) == 2
        slow_aai.remove_region("proc", "RegionOne")
        time.sleep(TTL + 0.2)
        assert request(broker.url, "GET", FAST).status == 404  # gone: not hidden by the cache
    assert len(plugin.requests_to(FAST_PATH)) >= 2 * CALLS

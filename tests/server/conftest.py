"""Real broker processes (several workers) in front of a real plugin server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.helpers import (FAST_PATH, FRAMEWORKS, SLOW_PATH, DefaultWorkersBroker,
                                  base_config)
from tests.support.broker import (SERVER_BACKENDS, BrokerProcess, region_add,
                                   server_backend_for_brokers, write_config)
from tests.support.upstreams import PluginServer


@pytest.fixture(scope="module")
def plugin():
    with PluginServer() as server:
        server.respond(SLOW_PATH, json_body={"slow": True}, delay=1.0)
        server.respond(FAST_PATH, json_body={"fast": True})
        yield server


@pytest.fixture(scope="session", params=SERVER_BACKENDS, autouse=True)
def server_backend(request) -> Iterator[str]:
    """Every test here runs under each serving backend."""
    yield from server_backend_for_brokers(request)


@pytest.fixture(params=FRAMEWORKS)
def framework(request) -> str:
    return request.param


@pytest.fixture
def make_broker(tmp_path, plugin, framework):
    """Start brokers with the demo region; every one is stopped by PID at the end."""
    started: list[BrokerProcess] = []

    def start(workers: int | None = 2, config: dict | None = None, **kwargs) -> BrokerProcess:
        cfg = config or base_config(tmp_path, plugin)
        write_config(tmp_path / "region.conf", cfg)
        if not (tmp_path / "inventory.sqlite").exists():
            region_add(tmp_path / "region.conf", "proc", "RegionOne", "openstack", "ocata")
        broker = DefaultWorkersBroker(tmp_path, cfg, web_framework=framework,
                                      workers=workers, name=f"b{len(started)}", **kwargs)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()



"""The plugin's per-worker region cache and one-page answers (issue 19, the
plugin's CPU per call), on a plugin of its own in front of the real
Keystone and the simulator: [inventory] cache_ttl 1 s and negative_ttl 1 s
(the broker's options), [openstack_plugin] page_size 2 and max_list_items 3.

A region changed, removed or added in the inventory is answered accordingly
once the cache's entry has expired (polled for, with a generous bound: what
is checked is that the change is seen at all, not how fast)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from multicloud_broker.inventory.sqlite import SqliteInventory
from multicloud_broker.simulators.keystone import LocalKeystone
from tests.openstack_plugin.conftest import OWNER, PLUGIN, chain_config, region_record
from tests.support.client import Reply, request
from tests.support.plugin import PluginProcess

REGION = "RegionCached"
PATIENCE = 30.0  # seconds a change may take to be seen (the TTL is 1 s)


@dataclass
class Cached:
    plugin: PluginProcess
    inventory: SqliteInventory
    keystone: LocalKeystone
    tenant: str

    def networks(self, region: str = REGION, query: str = "") -> Reply:
        path = f"/api/{PLUGIN}/v0/{OWNER}_{region}/{self.tenant}/networks"
        return request(self.plugin.url, "GET", path + (f"?{query}" if query else ""))

    def create_network(self, name: str) -> None:
        reply = request(self.plugin.url, "POST",
                        f"/api/{PLUGIN}/v0/{OWNER}_{REGION}/{self.tenant}/networks",
                        body=json.dumps({"name": name, "shared": False}).encode(),
                        headers={"Content-Type": "application/json"})
        assert reply.status == 202, reply


@pytest.fixture(scope="module")
def cached(tmp_path_factory, keystone, openstack_sim) -> Iterator[Cached]:
    workdir: Path = tmp_path_factory.mktemp("region-cache")
    inventory = SqliteInventory(str(workdir / "inventory.sqlite"))
    inventory.add(region_record(keystone, REGION))
    conf = chain_config(Path(inventory.path), page_size=2, max_list_items=3)
    conf["inventory"].update(cache_ttl=1, negative_ttl=1)
    plugin = PluginProcess(workdir, conf, web_framework="pecan", workers=1, name="plugin")
    plugin.start()
    try:
        yield Cached(plugin, inventory, keystone, keystone.admin_session().get_project_id())
    finally:
        plugin.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _until(ask: Callable[[], Reply], wanted: Callable[[Reply], bool]) -> Reply:
    """The first answer that is `wanted`, else the last one after PATIENCE s."""
    deadline = time.monotonic() + PATIENCE
    reply = ask()
    while not wanted(reply) and time.monotonic() < deadline:
        time.sleep(0.2)
        reply = ask()
    return reply


def test_a_changed_password_is_used_once_the_cached_record_expires(cached: Cached) -> None:
    assert cached.networks().status == 200
    cached.inventory.put(region_record(cached.keystone, REGION, password="not-the-password"))
    try:
        refused = _until(cached.networks, lambda r: r.status != 200)
        assert refused.status == 502, refused
        assert "credentials" in refused.json()["error"]
        assert "not-the-password" not in refused.body.decode()
    finally:
        cached.inventory.put(region_record(cached.keystone, REGION))
    assert _until(cached.networks, lambda r: r.status == 200).status == 200


def test_a_removed_region_is_404_then_found_again_once_added(cached: Cached) -> None:
    region = unique("RegionGone")
    cached.inventory.add(region_record(cached.keystone, region))
    assert cached.networks(region).status == 200
    cached.inventory.remove(OWNER, region)
    gone = _until(lambda: cached.networks(region), lambda r: r.status != 200)
    assert gone.status == 404, gone
    assert region in gone.json()["error"]
    # Remembered as unknown for negative_ttl only: added again, it is served.
    cached.inventory.add(region_record(cached.keystone, region))
    assert _until(lambda: cached.networks(region), lambda r: r.status == 200).status == 200


def test_a_region_never_recorded_is_a_404_every_time(cached: Cached) -> None:
    for _ in range(3):  # the second and third from the cache's memory of it
        reply = cached.networks("RegionNowhere")
        assert reply.status == 404, reply
        assert "RegionNowhere" in reply.json()["error"]


def test_one_page_is_answered_whole_with_its_length(cached: Cached) -> None:
    name = unique("one-page")
    cached.create_network(name)
    reply = cached.networks(query=f"name={name}")
    assert reply.status == 200, reply
    assert reply.header("Content-Length") == str(len(reply.body))
    doc = reply.json()
    assert [n["name"] for n in doc["networks"]] == [name]
    assert doc["tenantId"] == cached.tenant and doc["vimId"] == f"{OWNER}_{REGION}"


def test_pages_stream_and_stop_at_max_list_items(cached: Cached) -> None:
    for _ in range(4):  # over page_size (2) and max_list_items (3)
        cached.create_network(unique("paged"))
    reply = cached.networks()
    assert reply.status == 200, reply
    assert reply.header("Content-Length") is None  # more than one page: streamed
    networks = reply.json()["networks"]  # whole JSON, cut at the limit
    assert len(networks) == 3 and len({n["id"] for n in networks}) == 3
    assert "max_list_items" in cached.plugin.stderr_path.read_text() + \
        cached.plugin.stdout_path.read_text()

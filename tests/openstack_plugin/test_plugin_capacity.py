"""capacity_check through the broker and the OpenStack plugin, answered from
the simulated cloud's own numbers (read here with openstacksdk, straight
from Nova and Cinder), and the broker's check_vim_capacity over the region."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from openstack import connection

from tests.openstack_plugin.conftest import OWNER, REGION, VIMID, Chain, admin_sdk
from tests.support.client import Reply, request

JSON = {"Content-Type": "application/json"}


def call(chain: Chain, method: str, path: str, body: object = None) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    return request(chain.broker.url, method, path, body=data, headers=JSON if data else None)


@pytest.fixture
def cloud(chain: Chain) -> Iterator[connection.Connection]:
    conn = admin_sdk(chain.keystone)
    yield conn
    conn.close()


def room(cloud: connection.Connection) -> tuple[int, float, int]:
    """What the project may still use: vCPUs, memory in GB, storage in GB."""
    nova = cloud.compute.get("/limits").json()["limits"]["absolute"]
    cinder = cloud.block_storage.get("/limits").json()["limits"]["absolute"]
    hosts = cloud.compute.get("/os-hypervisors/detail").json()["hypervisors"]
    vcpus = sum(h["vcpus"] - h["vcpus_used"] for h in hosts)
    ram_mb = sum(h["free_ram_mb"] for h in hosts)
    if nova["maxTotalCores"] >= 0:
        vcpus = min(vcpus, nova["maxTotalCores"] - nova["totalCoresUsed"])
    if nova["maxTotalRAMSize"] >= 0:
        ram_mb = min(ram_mb, nova["maxTotalRAMSize"] - nova["totalRAMUsed"])
    return vcpus, ram_mb / 1024, cinder["maxTotalVolumeGigabytes"] - cinder["totalGigabytesUsed"]


def check(chain: Chain, path: str, **demand: float) -> bool:
    reply = call(chain, "POST", path, demand)
    assert reply.status == 200, reply
    return reply.json()["result"]


def test_the_answer_is_yes_up_to_what_the_cloud_leaves(chain: Chain, cloud) -> None:
    vcpus, memory, storage = room(cloud)
    path = chain.v0("capacity_check")
    assert check(chain, path, vCPU=vcpus, Memory=memory, Storage=storage) is True
    assert check(chain, path, vCPU=vcpus + 1, Memory=1, Storage=1) is False
    assert check(chain, path, vCPU=1, Memory=memory + 1, Storage=1) is False
    assert check(chain, path, vCPU=1, Memory=1, Storage=storage + 1) is False


def test_with_no_core_quota_the_hypervisors_bound_the_answer(chain: Chain, cloud) -> None:
    quota = f"/os-quota-sets/{chain.tenant}"
    cloud.compute.put(quota, json={"quota_set": {"cores": -1}})
    try:
        hosts = cloud.compute.get("/os-hypervisors/detail").json()["hypervisors"]
        free = sum(h["vcpus"] - h["vcpus_used"] for h in hosts)
        assert free > 20  # beyond the default quota: the hypervisors answer
        path = chain.v1("capacity_check")
        assert check(chain, path, vCPU=free) is True
        assert check(chain, path, vCPU=free + 1) is False
    finally:
        cloud.compute.delete(quota)


def test_v1_lists_the_availability_zones_with_their_capacity(chain: Chain, cloud) -> None:
    reply = call(chain, "POST", chain.v1("capacity_check"), {"vCPU": 1, "Memory": 1})
    assert reply.status == 200, reply
    hosts = cloud.compute.get("/os-hypervisors/detail").json()["hypervisors"]
    (zone,) = reply.json()["AZs"]
    assert zone["availability-zone-name"] == "nova"
    assert zone["vCPUTotal"] == sum(h["vcpus"] for h in hosts)
    assert zone["MemoryTotal"] == sum(h["memory_mb"] for h in hosts) / 1024
    assert zone["StorageAvail"] == sum(h["free_disk_gb"] for h in hosts)


def test_a_demand_that_is_not_a_number_is_refused_by_name(chain: Chain) -> None:
    for body, field in (({"vCPU": "many"}, "vCPU"), ({"Memory": -1}, "Memory"),
                        ({"Storage": True}, "Storage")):
        reply = call(chain, "POST", chain.v0("capacity_check"), body)
        assert reply.status == 400 and reply.json()["error"].startswith(field), reply
    assert call(chain, "POST", chain.v0("capacity_check"), [1]).status == 400


def test_the_brokers_check_vim_capacity_asks_the_plugin(chain: Chain, cloud) -> None:
    vcpus, _, _ = room(cloud)
    small = {"vCPU": 1, "Memory": 1, "Storage": 1}
    v0 = call(chain, "POST", "/api/multicloud/v0/check_vim_capacity",
              {**small, "VIMs": [VIMID, "nobody_nowhere"]})
    assert v0.status == 200 and v0.json() == {"VIMs": [VIMID]}, v0
    too_big = call(chain, "POST", "/api/multicloud/v0/check_vim_capacity",
                   {**small, "vCPU": vcpus + 1, "VIMs": [VIMID]})
    assert too_big.json() == {"VIMs": []}

    region = {"cloud-owner": OWNER, "cloud-region-id": REGION}
    v1 = call(chain, "POST", "/api/multicloud/v1/check_vim_capacity",
              {**small, "VIMs": [region]})
    assert v1.status == 200, v1
    (answered,) = v1.json()["VIMs"]
    assert {k: answered[k] for k in region} == region
    assert [z["availability-zone-name"] for z in answered["AZs"]] == ["nova"]

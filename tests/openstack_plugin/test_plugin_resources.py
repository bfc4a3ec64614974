"""ONAP's resource API for OpenStack, through the broker and the plugin to the
real Keystone and the simulated cloud: what an orchestrator sees, and what
the cloud then holds (checked with openstacksdk, as OpenStack's own client)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from openstack import connection

from tests.openstack_plugin.conftest import OWNER, PLUGIN, REGION, VIMID, Chain, admin_sdk
from tests.support.client import request

JSON = {"Content-Type": "application/json"}


def call(chain: Chain, method: str, path: str, body: object = None):
    data = json.dumps(body).encode() if body is not None else None
    return request(chain.broker.url, method, path, body=data, headers=JSON if data else None)


def sdk(chain: Chain) -> connection.Connection:
    """openstacksdk straight to the cloud, as the region's user."""
    return admin_sdk(chain.keystone)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_tenants_are_the_regions_projects(chain: Chain) -> None:
    reply = call(chain, "GET", chain.v0("tenants"))
    assert reply.status == 200, reply
    answer = reply.json()
    assert (answer["vimId"], answer["vimName"]) == (VIMID, VIMID)
    assert {"id": chain.tenant, "name": "admin"} in answer["tenants"]


def test_a_network_is_created_once_then_found_by_name_and_deleted(chain: Chain) -> None:
    name = unique("net")
    path = chain.v0(f"{chain.tenant}/networks")
    first = call(chain, "POST", path, {"name": name, "shared": False})
    assert first.status == 202, first
    created = first.json()
    assert created["returnCode"] == 1 and created["name"] == name
    assert (created["vimId"], created["tenantId"]) == (VIMID, chain.tenant)
    again = call(chain, "POST", path, {"name": name, "shared": False})
    assert again.status == 200 and again.json()["returnCode"] == 0
    assert again.json()["id"] == created["id"]
    cloud = sdk(chain)
    assert [n.id for n in cloud.network.networks(name=name)] == [created["id"]]

    listed = call(chain, "GET", path).json()
    assert listed["vimId"] == VIMID and listed["tenantId"] == chain.tenant
    assert created["id"] in [n["id"] for n in listed["networks"]]
    one = call(chain, "GET", f"{path}/{created['id']}")
    assert one.status == 200 and one.json()["name"] == name

    assert call(chain, "DELETE", f"{path}/{created['id']}").status == 204
    assert list(cloud.network.networks(name=name)) == []
    gone = call(chain, "GET", f"{path}/{created['id']}")
    assert gone.status == 404 and "not found" in gone.json()["error"]


def test_subnet_and_port_under_api_v1(chain: Chain) -> None:
    base = chain.v1(f"{chain.tenant}")
    net = call(chain, "POST", f"{base}/networks", {"name": unique("net"), "shared": False}).json()
    subnet = call(chain, "POST", f"{base}/subnets", {
        "name": unique("sub"), "networkId": net["id"], "cidr": "10.20.0.0/24",
        "ipVersion": 4, "enableDhcp": False}).json()
    assert subnet["returnCode"] == 1 and subnet["cidr"] == "10.20.0.0/24"
    assert (subnet["cloud-owner"], subnet["cloud-region-id"]) == (OWNER, REGION)
    port = call(chain, "POST", f"{base}/ports", {
        "name": unique("port"), "networkId": net["id"], "subnetId": subnet["id"]})
    assert port.status == 202, port
    port = port.json()
    assert port["ip"].startswith("10.20.0.") and port["networkId"] == net["id"]
    assert sdk(chain).network.get_port(port["id"]).fixed_ips[0]["ip_address"] == port["ip"]
    for kind, rid in (("ports", port["id"]), ("subnets", subnet["id"]),
                      ("networks", net["id"])):
        assert call(chain, "DELETE", f"{base}/{kind}/{rid}").status == 204


def test_a_server_boots_from_the_image_on_a_port(chain: Chain) -> None:
    base = chain.v0(chain.tenant)
    images = call(chain, "GET", f"{base}/images").json()["images"]
    image = next(i for i in images if i["name"].startswith("cirros"))
    flavors = call(chain, "GET", f"{base}/flavors").json()["flavors"]
    flavor = next(f for f in flavors if f["name"] == "m1.tiny")
    net = call(chain, "POST", f"{base}/networks", {"name": unique("net"), "shared": False}).json()
    call(chain, "POST", f"{base}/subnets", {"name": unique("sub"), "networkId": net["id"],
                                            "cidr": "10.30.0.0/24", "ipVersion": 4})
    port = call(chain, "POST", f"{base}/ports", {"name": unique("p"),
                                                 "networkId": net["id"]}).json()
    name = unique("vm")
    reply = call(chain, "POST", f"{base}/servers", {
        "name": name, "flavorId": flavor["id"], "boot": {"type": 2, "imageId": image["id"]},
        "nicArray": [{"portId": port["id"]}]})
    assert reply.status == 202, reply
    server = reply.json()
    assert server["returnCode"] == 1 and server["boot"] == {"type": 2, "imageId": image["id"]}
    cloud = sdk(chain).compute.wait_for_server(sdk(chain).compute.get_server(server["id"]),
                                               wait=30)
    # openstacksdk's microversion shows the flavor by name (Nova 2.47 and later)
    assert cloud.status == "ACTIVE" and flavor["name"] in (cloud.flavor.get("original_name"),
                                                           cloud.flavor.get("id"))
    shown = call(chain, "GET", f"{base}/servers/{server['id']}").json()
    assert shown["status"] == "ACTIVE" and shown["name"] == name
    assert call(chain, "DELETE", f"{base}/servers/{server['id']}").status == 204


def test_a_server_boots_from_a_volume(chain: Chain) -> None:
    base = chain.v0(chain.tenant)
    image = next(i for i in call(chain, "GET", f"{base}/images").json()["images"]
                 if i["name"].startswith("cirros"))
    cloud = sdk(chain)
    volume = cloud.block_storage.create_volume(name=unique("boot"), size=1,
                                               image_id=image["id"])
    cloud.block_storage.wait_for_status(volume, "available", wait=30)
    net = call(chain, "POST", f"{base}/networks", {"name": unique("net"), "shared": False}).json()
    port = call(chain, "POST", f"{base}/ports", {"name": unique("p"),
                                                 "networkId": net["id"]}).json()
    reply = call(chain, "POST", f"{base}/servers", {
        "name": unique("vm"), "flavorId": "1", "boot": {"type": 1, "volumeId": volume.id},
        "nicArray": [{"portId": port["id"]}]})
    assert reply.status == 202, reply
    server = reply.json()
    assert server["boot"] == {"type": 1, "volumeId": volume.id}
    attached = cloud.compute.wait_for_server(cloud.compute.get_server(server["id"]), wait=30)
    assert [v["id"] for v in attached.attached_volumes] == [volume.id]
    assert call(chain, "DELETE", f"{base}/servers/{server['id']}").status == 204


def test_a_servers_volumes_are_attached_once_it_is_active(chain: Chain) -> None:
    base = chain.v0(chain.tenant)
    image = next(i for i in call(chain, "GET", f"{base}/images").json()["images"]
                 if i["name"].startswith("cirros"))
    cloud = sdk(chain)
    volume = cloud.block_storage.create_volume(name=unique("data"), size=1)
    cloud.block_storage.wait_for_status(volume, "available", wait=30)
    net = call(chain, "POST", f"{base}/networks", {"name": unique("net"), "shared": False}).json()
    port = call(chain, "POST", f"{base}/ports", {"name": unique("p"),
                                                 "networkId": net["id"]}).json()
    reply = call(chain, "POST", f"{base}/servers", {
        "name": unique("vm"), "flavorId": "1", "boot": {"type": 2, "imageId": image["id"]},
        "nicArray": [{"portId": port["id"]}], "volumeArray": [{"volumeId": volume.id}]})
    assert reply.status == 202, reply
    server = reply.json()
    assert server["status"] == "ACTIVE" and server["volumeArray"] == [{"volumeId": volume.id}]
    assert [v["id"] for v in cloud.compute.get_server(server["id"]).attached_volumes] == [
        volume.id]
    assert call(chain, "DELETE", f"{base}/servers/{server['id']}").status == 204


def test_a_server_whose_volume_cannot_be_attached_is_not_left_behind(chain: Chain) -> None:
    base = chain.v0(chain.tenant)
    image = next(i for i in call(chain, "GET", f"{base}/images").json()["images"]
                 if i["name"].startswith("cirros"))
    name = unique("vm")
    reply = call(chain, "POST", f"{base}/servers", {
        "name": name, "flavorId": "1", "boot": {"type": 2, "imageId": image["id"]},
        "nicArray": [], "volumeArray": [{"volumeId": "no-such-volume"}]})
    assert reply.status == 400 and "no-such-volume" in reply.json()["error"], reply
    cloud = sdk(chain)
    for _ in range(50):
        left = [s for s in cloud.compute.servers(name=name) if s.status != "DELETED"]
        if not left:
            break
        time.sleep(0.1)
    assert left == []


def test_a_list_of_one_name(chain: Chain) -> None:
    """`?name=` as the Swagger document offers it: Neutron filters networks
    itself; Nova cannot filter flavors by name, the plugin does."""
    base = chain.v0(chain.tenant)
    name = unique("net")
    net = call(chain, "POST", f"{base}/networks", {"name": name, "shared": False}).json()
    call(chain, "POST", f"{base}/networks", {"name": unique("other"), "shared": False})
    nets = call(chain, "GET", f"{base}/networks?name={name}").json()["networks"]
    assert [n["id"] for n in nets] == [net["id"]]
    flavors = call(chain, "GET", f"{base}/flavors?name=m1.tiny").json()["flavors"]
    assert [f["name"] for f in flavors] == ["m1.tiny"]
    assert call(chain, "GET", f"{base}/flavors?name=no-such").json()["flavors"] == []


def test_flavor_with_extra_specs(chain: Chain) -> None:
    base = chain.v0(chain.tenant)
    name = unique("flv")
    created = call(chain, "POST", f"{base}/flavors", {
        "name": name, "vcpu": 2, "memory": 2048, "disk": 10,
        "extraSpecs": [{"keyName": "hw:cpu_policy", "value": "dedicated"}]})
    assert created.status == 202, created
    flavor = created.json()
    shown = call(chain, "GET", f"{base}/flavors/{flavor['id']}").json()
    assert shown["extraSpecs"] == [{"keyName": "hw:cpu_policy", "value": "dedicated"}]
    assert sdk(chain).compute.fetch_flavor_extra_specs(flavor["id"]).extra_specs == {
        "hw:cpu_policy": "dedicated"}
    # In a list too, as ONAP's plugin gives them (OOF reads HPA capabilities there).
    listed = call(chain, "GET", f"{base}/flavors?name={name}").json()["flavors"]
    assert [f["extraSpecs"] for f in listed] == [shown["extraSpecs"]]
    plain = call(chain, "GET", f"{base}/flavors?name=m1.tiny").json()["flavors"]
    assert [f["extraSpecs"] for f in plain] == [[]]
    assert call(chain, "DELETE", f"{base}/flavors/{flavor['id']}").status == 204


def test_limits_and_hosts(chain: Chain) -> None:
    base = chain.v0(chain.tenant)
    limits = call(chain, "GET", f"{base}/limits")
    assert limits.status == 200, limits
    assert limits.json()["maxTotalCores"] > 0 and "maxTotalVolumes" in limits.json()
    hosts = call(chain, "GET", f"{base}/hosts").json()["hosts"]
    assert hosts and hosts[0]["name"]
    one = call(chain, "GET", f"{base}/hosts/{hosts[0]['name']}")
    assert one.status == 200 and one.json()["name"] == hosts[0]["name"]


@pytest.mark.parametrize("body, words", [
    ({}, "name"), ({"name": 5}, "name"), ("not an object", ""),
])
def test_a_bad_create_is_a_400_naming_the_field(chain: Chain, body, words) -> None:
    reply = call(chain, "POST", chain.v0(f"{chain.tenant}/networks"), body)
    assert reply.status == 400 and words in reply.json()["error"]


def test_unknown_resources_and_plugin_names_are_404(chain: Chain) -> None:
    assert call(chain, "GET", chain.v0(f"{chain.tenant}/gizmos")).status == 404
    reply = request(chain.plugin.url, "GET", f"/api/multicloud-nope/v0/{VIMID}/tenants")
    assert reply.status == 404


def test_the_plugin_documents_its_api(chain: Chain) -> None:
    reply = request(chain.plugin.url, "GET", f"/api/{PLUGIN}/v0/swagger.json")
    assert reply.status == 200
    document = reply.json()
    assert document["swagger"] == "2.0"
    assert any(p.endswith("/{tenantid}/networks") for p in document["paths"])


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_ten_thousand_servers_are_listed_a_page_at_a_time(chain: Chain) -> None:
    """The answer streams page by page (no Content-Length): the plugin holds one
    page of the cloud's answer, not the listing (its memory is measured)."""
    ks = chain.keystone
    project_name = unique("bulk")
    project = ks.add_project(project_name)
    admin = ks.admin_session()
    user = admin.get(f"{ks.url}/users?name={ks.admin_user}").json()["users"][0]["id"]
    role = admin.get(f"{ks.url}/roles?name=admin").json()["roles"][0]["id"]
    admin.put(f"{ks.url}/projects/{project}/users/{user}/roles/{role}")  # the region's user
    chain.sim.seed_servers(project, 10_000, prefix=project_name)
    path = chain.v0(f"{project}/servers")
    call(chain, "GET", chain.v0(f"{chain.tenant}/servers"))  # warm: code and sessions loaded
    before = _rss_kib(chain.plugin.pid)
    reply = call(chain, "GET", path)
    after = _rss_kib(chain.plugin.pid)
    assert reply.status == 200, reply
    assert reply.header("Content-Length") is None  # streamed
    servers = reply.json()["servers"]
    assert len(servers) == 10_000 and len({s["id"] for s in servers}) == 10_000
    assert {s["name"] for s in servers} == {f"{project_name}-{i}" for i in range(10_000)}
    # 2.5 MiB went out, from ten pages of 1,000 of Nova's documents; one page
    # parsed takes about 12 MiB (measured), ten held at once ten times that.
    assert len(reply.body) > 2 << 20
    assert after - before < 32 << 10, (before, after)

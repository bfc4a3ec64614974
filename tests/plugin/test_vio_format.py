"""Declarations in ONAP VIO's format (tests/plugin/vio_format: files written
for these tests with the structure and keys of VIO's own) load onto the same
model and convert as VIO's controller builder does."""

from __future__ import annotations

from pathlib import Path

import pytest

from multicloud_broker.plugin import (
    RequestError,
    load_builtin,
    load_declarations,
    swagger_document,
)

from . import openstack_docs as os_docs

VIO_DIR = Path(__file__).resolve().parent / "vio_format"


@pytest.fixture(scope="module")
def vio():
    return load_declarations([VIO_DIR])


def test_the_five_files_load(vio):
    assert sorted(vio) == ["hosts", "images", "networks", "ports", "subnets"]
    shapes = {name: (r.format, r.check_values, r.cloud.service, r.cloud.path,
                     r.cloud.list_key, r.cloud.item_key, r.list_key, r.operations)
              for name, r in vio.items()}
    assert shapes == {
        "hosts": ("vio", False, "compute", "/os-hypervisors", "hypervisors", "hypervisor",
                  "hosts", ("list", "get")),
        "images": ("vio", False, "image", "/v2/images", "images", None, "images",
                   ("list", "get", "create", "delete")),
        "networks": ("vio", False, "network", "/v2.0/networks", "networks", "network",
                     "networks", ("list", "get", "create", "delete")),
        "ports": ("vio", False, "network", "/v2.0/ports", "ports", "port", "ports",
                  ("list", "get", "create", "delete")),
        "subnets": ("vio", False, "network", "/v2.0/subnets", "subnets", "subnet",
                    "subnets", ("list", "get", "create", "delete")),
    }
    assert vio["ports"].singular == "port"
    assert vio["hosts"].field("cpu").minimum == 1
    assert all(r.cloud.name_filter is None for r in vio.values())
    assert vio["networks"].match_on == ("name",) and vio["hosts"].match_on == ()


def test_networks_answers_apply_vio_defaults(vio):
    res = vio["networks"]
    assert res.from_cloud(os_docs.NETWORK) == {
        "id": os_docs.NETWORK["id"], "name": "oam_net", "status": "ACTIVE",
        "tenantId": os_docs.TENANT, "shared": False, "routerExternal": False,
        "networkType": "vlan", "physicalNetwork": "physnet1", "segmentationId": 1021,
        "vlanTransparent": False}
    plain = {"id": "n2", "name": "internal", "status": "ACTIVE", "shared": True}
    # `default: None` answers null, `default: false` false; no default, nothing.
    assert res.from_cloud(plain) == {
        "id": "n2", "name": "internal", "status": "ACTIVE", "shared": True,
        "networkType": None, "physicalNetwork": None, "segmentationId": None,
        "vlanTransparent": False}


def test_networks_requests_pass_values_on_unchecked(vio):
    res = vio["networks"]
    body = {"name": "n1", "shared": "yes", "segmentationId": "101", "status": "DOWN",
            "other": 1}
    # As VIO: every given property is sent, as it is; defaults are for answers.
    assert res.wrap(res.to_cloud(body)) == {"network": {
        "name": "n1", "shared": "yes", "provider:segmentation_id": "101", "status": "DOWN"}}
    with pytest.raises(RequestError) as info:
        res.to_cloud({"name": "n1"})
    assert str(info.value) == "shared is required"


def test_ports_flatten_the_first_fixed_ip_both_ways(vio):
    res = vio["ports"]
    mc = res.from_cloud(os_docs.PORT)
    assert mc == {
        "id": os_docs.PORT["id"], "name": "vm1_oam_port", "status": "ACTIVE",
        "tenantId": os_docs.TENANT, "networkId": os_docs.NETWORK["id"],
        "macAddress": "fa:16:3e:5c:2a:91", "securityGroups": os_docs.PORT["security_groups"],
        "vnicType": "normal", "subnetId": os_docs.SUBNET["id"], "ip": "10.10.0.17"}
    sent = res.to_cloud({"name": "p1", "networkId": "net", "subnetId": "sub",
                         "ip": "10.0.0.5"})
    assert res.wrap(sent) == {"port": {"name": "p1", "network_id": "net", "fixed_ips": [
        {"subnet_id": "sub", "ip_address": "10.0.0.5"}]}}
    # A port without addresses: VIO's array paths have no default.
    assert "ip" not in res.from_cloud({**os_docs.PORT, "fixed_ips": []})


def test_subnets(vio):
    res = vio["subnets"]
    mc = res.from_cloud(os_docs.SUBNET)
    assert mc["allocationPools"] == os_docs.SUBNET["allocation_pools"]  # untyped: as is
    assert mc["dnsNameservers"] == ["8.8.8.8", "8.8.4.4"]
    assert mc["cidr"] == "10.10.0.0/24" and mc["ipVersion"] == 4
    assert res.from_cloud({"id": "s"})["gatewayIp"] is None
    body = {"name": "s1", "networkId": "n", "cidr": "10.0.0.0/24", "ipVersion": 4,
            "hostRoutes": [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.1"}]}
    assert res.to_cloud(body) == {"name": "s1", "network_id": "n", "cidr": "10.0.0.0/24",
                                  "ip_version": 4, "host_routes": body["hostRoutes"]}
    with pytest.raises(RequestError, match="^ipVersion is required$"):
        res.to_cloud({"name": "s1", "networkId": "n", "cidr": "10.0.0.0/24"})


def test_images_are_not_wrapped(vio):
    res = vio["images"]
    assert res.unwrap(os_docs.IMAGE) is os_docs.IMAGE
    assert res.from_cloud(os_docs.IMAGE) == {
        "id": os_docs.IMAGE["id"], "name": "ubuntu-22.04-server", "status": "active",
        "imageType": "qcow2", "containerFormat": "bare", "visibility": "public",
        "size": 658047488}
    assert res.from_cloud({"id": "i"})["visibility"] == "private"
    sent = res.to_cloud({"name": "cirros", "imageType": "qcow2", "containerFormat": "bare"})
    assert res.wrap(sent) == {"name": "cirros", "disk_format": "qcow2",
                              "container_format": "bare"}


def test_hosts_from_hypervisors(vio):
    res = vio["hosts"]
    assert res.unwrap_list({"hypervisors": [os_docs.HYPERVISOR]}) == [os_docs.HYPERVISOR]
    assert res.from_cloud(res.unwrap({"hypervisor": os_docs.HYPERVISOR})) == {
        "id": os_docs.HYPERVISOR["id"], "name": "compute-0.example.org", "state": "up",
        "status": "enabled", "cpu": 32, "memory_mb": 131072, "disk_gb": 900}


def test_vio_resources_replace_builtin_ones_and_document_themselves(vio):
    merged = load_declarations([Path(load_builtin()["networks"].origin).parent, VIO_DIR])
    assert merged["networks"].format == "vio"
    assert merged["servers"].format == "native"
    doc = swagger_document(merged, "multicloud-vio")
    props = doc["definitions"]["PortsCreateRequest"]["properties"]
    assert props["ip"] == {}  # untyped in VIO: any value
    assert doc["definitions"]["PortsCreateRequest"]["required"] == ["name", "networkId"]

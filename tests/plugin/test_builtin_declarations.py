"""The OpenStack plugin's built-in declarations: they load, say what ONAP's
MultiCloud API says, and map realistic OpenStack documents both ways."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from multicloud_broker.plugin import BUILTIN_DIR, RequestError, Resource, load_builtin

from . import openstack_docs as os_docs

EXPECTED = {  # resource: (service, path, list key, operations, hook)
    "images": ("image", "/v2/images", "images", ("list", "get", "create", "delete"), "images"),
    "flavors": ("compute", "/flavors", "flavors", ("list", "get", "create", "delete"),
                "flavors"),
    "networks": ("network", "/v2.0/networks", "networks",
                 ("list", "get", "create", "delete"), None),
    "subnets": ("network", "/v2.0/subnets", "subnets", ("list", "get", "create", "delete"),
                None),
    "ports": ("network", "/v2.0/ports", "ports", ("list", "get", "create", "delete"), None),
    "servers": ("compute", "/servers", "servers", ("list", "get", "create", "delete"),
                "servers"),
    "volumes": ("volumev3", "/volumes", "volumes", ("list", "get", "create", "delete"), None),
    "hosts": ("compute", "/os-hypervisors", "hosts", ("list", "get"), "hosts"),
    "limits": ("compute", "/limits", "limits", ("get",), "limits"),
    "tenants": ("identity", "/v3/projects", "tenants", ("list",), "tenants"),
}


@pytest.fixture(scope="module")
def builtin() -> dict[str, Resource]:
    return load_builtin()


def test_every_builtin_resource_loads_as_declared(builtin):
    assert set(builtin) == set(EXPECTED)
    assert {p.name for p in BUILTIN_DIR.glob("*.yaml")} == {f"{n}.yaml" for n in EXPECTED}
    for name, (service, path, list_key, ops, hook) in EXPECTED.items():
        res = builtin[name]
        assert (res.cloud.service, res.cloud.path, res.list_key, res.operations, res.hook) \
            == (service, path, list_key, ops, hook), name
        assert res.format == "native" and res.check_values
        assert res.origin.endswith(f"{name}.yaml")


def test_scopes_and_special_shapes(builtin):
    assert builtin["tenants"].scope == "region"
    assert all(r.scope == "tenant" for n, r in builtin.items() if n != "tenants")
    assert builtin["limits"].singleton
    assert builtin["hosts"].id_field == "name"
    assert builtin["images"].cloud.item_key is None  # Glance: the document itself
    assert builtin["flavors"].cloud.name_filter is None  # Nova has no name filter
    assert builtin["networks"].cloud.tenant_filter == "project_id"
    assert builtin["subnets"].match_on == ("name", "networkId")
    assert builtin["ports"].match_on == ("name", "networkId")
    assert builtin["networks"].match_on == ("name",)
    assert builtin["servers"].cloud.list_path == "/servers/detail"
    assert builtin["volumes"].cloud.collection_path == "/volumes/detail"
    assert builtin["networks"].cloud.item_path("a b/c") == "/v2.0/networks/a%20b%2Fc"


# -- ONAP's request rules, as the simulated cloud applies them ------------------

@pytest.mark.parametrize("kind,body,field", [
    ("networks", {"shared": False}, "name"),
    ("networks", {"name": "n"}, "shared"),
    ("subnets", {"name": "s", "cidr": "10.0.0.0/24", "ipVersion": 4}, "networkId"),
    ("ports", {"name": "p"}, "networkId"),
    ("servers", {"name": "s", "flavorId": "x"}, "boot"),
    ("servers", {"name": "s", "boot": {"type": 2, "imageId": "i"}}, "flavorId"),
    ("servers", {"name": "s", "flavorId": "x", "boot": {"imageId": "i"}}, "boot.type"),
    ("flavors", {"name": "f", "vcpu": 1, "memory": 512}, "disk"),
    ("images", {"name": "i", "imageType": "qcow2", "containerFormat": "bare"}, "imagePath"),
    ("volumes", {"name": "v"}, "volumeSize"),
    ("networks", {"name": "", "shared": True}, "name"),
])
def test_missing_required_field_names_it(builtin, kind, body, field):
    with pytest.raises(RequestError) as info:
        builtin[kind].to_cloud(body)
    assert info.value.field == field
    assert str(info.value) == f"{field} is required"


@pytest.mark.parametrize("kind,body,message", [
    ("networks", {"name": "n", "shared": "maybe"}, "shared must be a boolean"),
    ("networks", {"name": "n", "shared": True, "networkType": "token-ring"},
     "networkType must be one of flat, vlan, vxlan, gre, geneve, local, portgroup"),
    ("networks", {"name": "n", "shared": True, "segmentationId": "x1"},
     "segmentationId must be an integer"),
    ("networks", {"name": "n", "shared": True, "segmentationId": True},
     "segmentationId must be an integer"),
    ("flavors", {"name": "f", "vcpu": "two", "memory": 512, "disk": 1},
     "vcpu must be an integer"),
    ("flavors", {"name": "f", "vcpu": 0, "memory": 512, "disk": 1}, "vcpu must be at least 1"),
    ("flavors", {"name": "f", "vcpu": 1, "memory": 512, "disk": 1, "extraSpecs": [{"v": 1}]},
     "extraSpecs[0].keyName must be a non-empty string"),
    ("images", {"name": "i", "imagePath": "/x", "imageType": "exe",
                "containerFormat": "bare"},
     "imageType must be one of ami, ari, aki, vhd, vhdx, vmdk, raw, qcow2, vdi, iso, ploop"),
    ("volumes", {"name": "v", "volumeSize": 0}, "volumeSize must be at least 1"),
    ("subnets", {"name": "s", "networkId": "n", "cidr": "10.0.0.0/24", "ipVersion": 5},
     "ipVersion must be one of 4, 6"),
    ("subnets", {"name": "s", "networkId": "n", "cidr": "10.0.0.0/24", "ipVersion": 4,
                 "hostRoutes": [{"destination": "0.0.0.0/0"}]},
     "hostRoutes[0].nexthop is required"),
    ("subnets", {"name": "s", "networkId": "n", "cidr": "10.0.0.0/24", "ipVersion": 4,
                 "dnsNameservers": "8.8.8.8"}, "dnsNameservers must be an array"),
    ("servers", {"name": "s", "flavorId": "f", "boot": {"type": 3}},
     "boot.type must be one of 1, 2"),
    ("servers", {"name": "s", "flavorId": "f", "boot": {"type": 2}, "nicArray": [{}]},
     "nicArray[0].portId is required"),
    ("servers", {"name": "s", "flavorId": "f", "boot": "image"}, "boot must be an object"),
])
def test_bad_values_are_refused_naming_the_field(builtin, kind, body, message):
    with pytest.raises(RequestError) as info:
        builtin[kind].to_cloud(body)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    assert message.startswith(info.value.field)


def test_onap_aliases_are_accepted(builtin):
    assert builtin["networks"].to_cloud({"networkName": "n1", "shared": False})["name"] == "n1"
    assert builtin["images"].validate({"imageName": "i", "imagePath": "http://x/i.qcow2",
                                       "imageType": "qcow2", "containerFormat": "bare"}
                                      )["name"] == "i"
    assert builtin["volumes"].to_cloud({"volumeName": "v", "volumeSize": 1})["name"] == "v"
    assert builtin["subnets"].to_cloud({"subnetName": "s", "network_id": "n",
                                        "cidr": "10.0.0.0/24", "ipVersion": 4}
                                       )["network_id"] == "n"
    # The canonical name wins over an alias.
    assert builtin["networks"].to_cloud({"name": "a", "networkName": "b",
                                         "shared": True})["name"] == "a"


def test_onap_field_names_are_declared(builtin):
    """Every field ONAP's resource API names for a resource is declared, under
    that name (ONAP's plugins' answers; VoLTE's flows send them)."""
    onap = {
        "networks": {"name", "shared", "status", "networkType", "segmentationId",
                     "physicalNetwork", "vlanTransparent", "routerExternal"},
        "flavors": {"name", "vcpu", "memory", "disk", "ephemeral", "swap", "isPublic",
                    "extraSpecs"},
        "volumes": {"name", "volumeSize", "volumeType", "availabilityZone", "imageId",
                    "createTime", "attachments"},
    }
    for kind, names in onap.items():
        assert names <= {f.name for f in builtin[kind].fields}, kind
    assert {"name", "imageType", "containerFormat", "visibility", "properties",
            "imagePath", "status", "size", "checksum"} <= {
        f.name for f in builtin["images"].fields}
    assert {"name", "boot", "flavorId", "nicArray", "volumeArray", "metadata",
            "availabilityZone", "securityGroups", "serverGroup", "tenantId", "status"} <= {
        f.name for f in builtin["servers"].fields}
    assert {"name", "networkId", "subnetId", "ip", "macAddress", "vnicType",
            "securityGroups", "status", "deviceId"} <= {f.name for f in builtin["ports"].fields}
    assert {"name", "networkId", "cidr", "ipVersion", "enableDhcp", "gatewayIp",
            "allocationPools", "dnsNameservers", "hostRoutes"} <= {
        f.name for f in builtin["subnets"].fields}
    assert {"name", "service", "zone", "host"} <= {f.name for f in builtin["hosts"].fields}
    assert {"maxTotalCores", "maxTotalRAMSize", "maxTotalVolumeGigabytes", "totalCoresUsed",
            "network", "port", "security_group_rule"} <= {
        f.name for f in builtin["limits"].fields}


# -- round trips with OpenStack documents -----------------------------------------

def _create_paths_agree(res: Resource, mc: dict, cloud: dict) -> None:
    """Every field sent on create sits, in `cloud`, where it is declared."""
    sent = res.to_cloud(mc)
    for f in res.fields:
        if f.create_path is None or f.name not in mc or not f.accepted:
            continue
        found, value = f.create_path.get(sent)
        assert found, f.name
        if f.create_path == f.source:
            assert (True, value) == f.source.get(cloud), f.name


def test_networks_both_ways(builtin):
    res = builtin["networks"]
    mc = res.from_cloud(os_docs.NETWORK)
    assert mc == {
        "name": "oam_net", "id": os_docs.NETWORK["id"], "status": "ACTIVE",
        "tenantId": os_docs.TENANT, "shared": False, "networkType": "vlan",
        "physicalNetwork": "physnet1", "segmentationId": 1021, "vlanTransparent": False,
        "routerExternal": False}
    sent = res.to_cloud(mc)
    assert sent == {"name": "oam_net", "shared": False, "provider:network_type": "vlan",
                    "provider:physical_network": "physnet1",
                    "provider:segmentation_id": 1021, "vlan_transparent": False,
                    "router:external": False}
    assert res.wrap(sent) == {"network": sent}
    assert res.unwrap({"network": os_docs.NETWORK}) is os_docs.NETWORK
    assert res.unwrap_list({"networks": [os_docs.NETWORK]}) == [os_docs.NETWORK]
    _create_paths_agree(res, mc, os_docs.NETWORK)


def test_subnets_both_ways(builtin):
    res = builtin["subnets"]
    mc = res.from_cloud(os_docs.SUBNET)
    assert mc["networkId"] == os_docs.NETWORK["id"]
    assert mc["allocationPools"] == [{"start": "10.10.0.2", "end": "10.10.0.254"}]
    assert mc["hostRoutes"] == [{"destination": "192.168.50.0/24", "nexthop": "10.10.0.254"}]
    assert mc["dnsNameservers"] == ["8.8.8.8", "8.8.4.4"]
    assert (mc["ipVersion"], mc["enableDhcp"], mc["gatewayIp"]) == (4, True, "10.10.0.1")
    assert "status" not in mc  # Neutron subnets have none
    sent = res.to_cloud(mc)
    assert sent["allocation_pools"] == os_docs.SUBNET["allocation_pools"]
    assert sent["host_routes"] == os_docs.SUBNET["host_routes"]
    assert "id" not in sent and "project_id" not in sent
    _create_paths_agree(res, mc, os_docs.SUBNET)


def test_ports_both_ways_with_the_first_fixed_ip(builtin):
    res = builtin["ports"]
    mc = res.from_cloud(os_docs.PORT)
    assert mc == {
        "name": "vm1_oam_port", "id": os_docs.PORT["id"], "status": "ACTIVE",
        "tenantId": os_docs.TENANT, "networkId": os_docs.NETWORK["id"],
        "subnetId": os_docs.SUBNET["id"], "ip": "10.10.0.17",
        "macAddress": "fa:16:3e:5c:2a:91", "vnicType": "normal",
        "securityGroups": os_docs.PORT["security_groups"],
        "deviceId": os_docs.PORT["device_id"]}
    assert res.to_cloud({"name": "p", "networkId": "n", "subnetId": "s", "ip": "10.0.0.9",
                         "vnicType": "direct"}) == {
        "name": "p", "network_id": "n", "binding:vnic_type": "direct",
        "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.9"}]}
    assert res.to_cloud({"name": "p", "networkId": "n", "ip": "10.0.0.9"})["fixed_ips"] == [
        {"ip_address": "10.0.0.9"}]
    # A port without fixed IPs answers neither subnetId nor ip.
    bare = res.from_cloud({**os_docs.PORT, "fixed_ips": []})
    assert "ip" not in bare and "subnetId" not in bare
    _create_paths_agree(res, mc, os_docs.PORT)


def test_images_both_ways(builtin):
    res = builtin["images"]
    mc = res.from_cloud(os_docs.IMAGE)
    assert mc == {"name": "ubuntu-22.04-server", "id": os_docs.IMAGE["id"],
                  "status": "active", "imageType": "qcow2", "containerFormat": "bare",
                  "visibility": "public", "size": 658047488,
                  "checksum": os_docs.IMAGE["checksum"]}
    body = {"name": "cirros", "imagePath": "http://images.example.org/cirros.img",
            "imageType": "qcow2", "containerFormat": "bare", "visibility": "private",
            "properties": [{"keyName": "hw_disk_bus", "value": "scsi"}]}
    sent = res.to_cloud(body)
    # Glance takes the image itself; imagePath and properties are the hook's.
    assert res.wrap(sent) == sent == {"name": "cirros", "disk_format": "qcow2",
                                      "container_format": "bare", "visibility": "private"}
    assert res.validate(body)["properties"] == [{"keyName": "hw_disk_bus", "value": "scsi"}]
    assert res.unwrap(os_docs.IMAGE) is os_docs.IMAGE


def test_flavors_both_ways_with_extra_specs(builtin):
    res = builtin["flavors"]
    mc = res.from_cloud(os_docs.FLAVOR)
    assert mc == {"name": "vnf.medium.dpdk", "id": os_docs.FLAVOR["id"], "vcpu": 4,
                  "memory": 8192, "disk": 40, "ephemeral": 10, "swap": 1024,
                  "isPublic": True, "extraSpecs": [
                      {"keyName": "hw:cpu_policy", "value": "dedicated"},
                      {"keyName": "hw:mem_page_size", "value": "large"}]}
    sent = res.to_cloud(mc)
    assert sent == {"name": "vnf.medium.dpdk", "vcpus": 4, "ram": 8192, "disk": 40,
                    "OS-FLV-EXT-DATA:ephemeral": 10, "swap": 1024,
                    "os-flavor-access:is_public": True}  # extra specs: the hook's
    assert res.validate(mc)["extraSpecs"] == mc["extraSpecs"]
    # Defaults on create; older Nova answers swap "" for none: null, not a string.
    assert res.to_cloud({"name": "f", "vcpu": "2", "memory": 512, "disk": 0}) == {
        "name": "f", "vcpus": 2, "ram": 512, "disk": 0, "OS-FLV-EXT-DATA:ephemeral": 0,
        "swap": 0, "os-flavor-access:is_public": True}
    assert res.from_cloud({**os_docs.FLAVOR, "swap": ""})["swap"] is None
    # Before microversion 2.61 there are no extra_specs in the flavor.
    without = {k: v for k, v in os_docs.FLAVOR.items() if k != "extra_specs"}
    assert "extraSpecs" not in res.from_cloud(without)


def test_volumes_both_ways(builtin):
    res = builtin["volumes"]
    mc = res.from_cloud(os_docs.VOLUME)
    assert mc["volumeSize"] == 20 and mc["volumeType"] == "lvmdriver-1"
    assert mc["imageId"] == os_docs.IMAGE["id"]
    assert mc["createTime"] == "2024-03-11T09:20:11.000000"
    assert mc["tenantId"] == os_docs.TENANT
    assert mc["attachments"] == [{
        "id": os_docs.VOLUME["id"], "attachmentId": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        "serverId": os_docs.SERVER["id"], "volumeId": os_docs.VOLUME["id"],
        "device": "/dev/vdb", "hostName": "compute-0"}]
    sent = res.to_cloud(mc)
    assert sent == {"name": "vm1_data", "size": 20, "volume_type": "lvmdriver-1",
                    "availability_zone": "nova", "imageRef": os_docs.IMAGE["id"]}
    assert res.wrap(sent) == {"volume": sent}


def test_servers_both_ways(builtin):
    res = builtin["servers"]
    mc = res.from_cloud(os_docs.SERVER)
    assert mc == {"name": "vm1", "id": os_docs.SERVER["id"], "status": "ACTIVE",
                  "tenantId": os_docs.TENANT, "flavorId": os_docs.FLAVOR["id"],
                  "availabilityZone": "nova", "metadata": {"vnf-id": "vnf-0001"},
                  "securityGroups": ["default", "oam"],
                  "volumeArray": [{"volumeId": os_docs.VOLUME["id"]}]}
    body = {"name": "vm2", "flavorId": os_docs.FLAVOR["id"],
            "boot": {"type": 2, "imageId": os_docs.IMAGE["id"]},
            "nicArray": [{"portId": os_docs.PORT["id"]}],
            "volumeArray": [{"volumeId": os_docs.VOLUME["id"]}],
            "contextArray": [{"fileName": "/etc/vnf.conf", "fileData": "a2V5PXZhbHVl"}],
            "availabilityZone": "nova", "metadata": {"vnf-id": "vnf-0002"},
            "securityGroups": ["default"], "serverGroup": "anti-affinity-1",
            "userdata": "I2Nsb3VkLWNvbmZpZw=="}
    sent = res.to_cloud(body)
    assert sent == {
        "name": "vm2", "flavorRef": os_docs.FLAVOR["id"], "availability_zone": "nova",
        "metadata": {"vnf-id": "vnf-0002"}, "user_data": "I2Nsb3VkLWNvbmZpZw==",
        "security_groups": [{"name": "default"}],
        "networks": [{"port": os_docs.PORT["id"]}],
        "personality": [{"path": "/etc/vnf.conf", "contents": "a2V5PXZhbHVl"}]}
    # boot, serverGroup and volumeArray are checked, then left to the hook.
    checked = res.validate(body)
    assert checked["boot"] == {"type": 2, "imageId": os_docs.IMAGE["id"]}
    assert checked["serverGroup"] == "anti-affinity-1"
    assert checked["volumeArray"] == [{"volumeId": os_docs.VOLUME["id"]}]
    # write-only fields are never answered.
    assert "userdata" not in res.from_cloud({**os_docs.SERVER, "user_data": "x"})
    # Nova 2.71+ answers server groups.
    grouped = res.from_cloud({**os_docs.SERVER, "server_groups": ["g-1"]})
    assert grouped["serverGroup"] == "g-1"


def test_hosts_from_hypervisors(builtin):
    res = builtin["hosts"]
    assert res.from_cloud(os_docs.HYPERVISOR) == {
        "name": "compute-0.example.org", "id": os_docs.HYPERVISOR["id"],
        "service": "compute", "status": "enabled", "state": "up",
        "hostIp": "192.168.24.11"}
    assert res.to_cloud({"name": "x"}) == {}  # nothing to send: read-only resource


def test_limits_from_nova(builtin):
    res = builtin["limits"]
    mc = res.from_cloud(res.unwrap(os_docs.NOVA_LIMITS))
    assert mc["maxTotalCores"] == 20 and mc["totalRAMUsed"] == 12288
    assert mc["maxServerGroupMembers"] == 10
    assert "maxTotalVolumes" not in mc and "network" not in mc  # the hook's


def test_tenants_from_keystone(builtin):
    res = builtin["tenants"]
    assert res.unwrap_list({"projects": [os_docs.PROJECT]}) == [os_docs.PROJECT]
    assert res.from_cloud(os_docs.PROJECT) == {
        "name": "onap-vnfs", "id": os_docs.TENANT, "description": "VNFs deployed by ONAP",
        "enabled": True, "domainId": "default"}


@pytest.mark.parametrize("doc", [
    None, [], "x", 3, {}, {"name": 5, "fixed_ips": "nope", "security_groups": {"a": 1},
                          "extra_specs": ["x"], "allocation_pools": [1, None, {"start": 2}],
                          "attachments": "x", "flavor": "f", "limits": [],
                          "os-extended-volumes:volumes_attached": [None, "v"]},
])
def test_odd_cloud_documents_never_raise(builtin, doc):
    for res in builtin.values():
        out = res.from_cloud(copy.deepcopy(doc))
        assert isinstance(out, dict)
    if isinstance(doc, dict) and doc:
        odd = builtin["subnets"].from_cloud(doc)
        # Values of the wrong type are null; a string of digits is its number.
        assert odd["allocationPools"] == [None, None, {"start": "2"}]
        assert odd["name"] == "5"


def test_requests_are_not_changed(builtin):
    body: dict[str, Any] = {"name": "vm", "flavorId": "f", "boot": {"type": "2", "imageId": "i"},
                            "nicArray": [{"portId": "p"}]}
    before = copy.deepcopy(body)
    sent = builtin["servers"].to_cloud(body)
    sent["networks"][0]["port"] = "changed"
    assert body == before


CREATE_BODIES = {
    "networks": {"networkName": "n", "shared": 1, "segmentationId": "7",
                 "networkType": "vlan"},
    "subnets": {"subnetName": "s", "network_id": "n", "cidr": "10.0.0.0/24", "ipVersion": "4",
                "allocationPools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]},
    "ports": {"name": "p", "networkId": "n", "ip": "10.0.0.3", "securityGroups": ["sg"]},
    "images": {"imageName": "i", "imagePath": "http://x/i.img", "imageType": "raw",
               "containerFormat": "bare", "properties": {"os_distro": "ubuntu"}},
    "flavors": {"name": "f", "vcpu": 1, "memory": 256, "disk": 1,
                "extraSpecs": {"hw:numa_nodes": "1"}},
    "volumes": {"volumeName": "v", "volumeSize": "3", "imageId": "i"},
    "servers": {"name": "s", "flavorId": "f", "boot": {"type": 1, "volumeId": "v"},
                "nicArray": [{"portId": "p"}], "metadata": {"a": "b"}},
}


@pytest.mark.parametrize("name", sorted(CREATE_BODIES))
def test_a_checked_body_checks_and_converts_the_same(builtin, name):
    """The executor checks a body first (validate), then converts the checked
    body: checking is idempotent and changes nothing that is sent."""
    res = builtin[name]
    checked = res.validate(CREATE_BODIES[name])
    assert res.validate(checked) == checked
    assert res.to_cloud(checked) == res.to_cloud(CREATE_BODIES[name])
    assert set(checked) <= {f.name for f in res.fields}
    assert not set(checked) & {f.name for f in res.fields if f.read_only}

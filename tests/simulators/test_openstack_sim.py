"""The OpenStack simulator answers OpenStack's own SDK as the real services
would, behind the real Keystone: networks, servers, boot from volume,
images, volumes, flavors, hypervisors, limits, Heat stacks, project
isolation, revoked tokens, paging; and each fault it promises under /_sim/."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3
from openstack import exceptions as sdk_exceptions

from multicloud_broker.simulators.keystone import LocalKeystone
from multicloud_broker.simulators.openstack.image import seed_bytes
from tests.support.keystone import keystone_fixture  # noqa: F401 (fixture)
from tests.support.openstack_sim import (BUILD_SECONDS, OpenStackSim,  # noqa: F401
                                         openstack_sim_fixture,
                                         openstack_sim_process)

# The first Keystone on a fresh machine builds its cached venv (about a minute).
pytestmark = [pytest.mark.timeout(600),
              # the SDK's own deprecation notices about itself
              pytest.mark.filterwarnings("ignore:::openstack")]

PASSWORD = "sim-pw"
SERVER_TEMPLATE = """
heat_template_version: 2018-08-31
description: a server on a network of its own
parameters:
  flavor: {type: string, default: m1.tiny}
  cidr: {type: string}
resources:
  net:
    type: OS::Neutron::Net
  subnet:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: {get_param: cidr}
  port:
    type: OS::Neutron::Port
    properties:
      network: {get_resource: net}
      fixed_ips: [{subnet: {get_resource: subnet}}]
  server:
    type: OS::Nova::Server
    properties:
      image: cirros-0.6.2-x86_64-disk
      flavor: {get_param: flavor}
      networks: [{port: {get_resource: port}}]
outputs:
  server_ip:
    description: the server's address
    value: {get_attr: [server, first_address]}
  server_id:
    value: {get_resource: server}
"""


class Project:
    """A project with a member user; its SDK connection and raw session."""

    def __init__(self, keystone: LocalKeystone, name: str, role: str = "member"):
        self.keystone = keystone
        self.name = name
        self.user = f"{name}-user"
        self.id = keystone.add_project(name)
        keystone.add_user(self.user, PASSWORD, name, role=role)
        self.conn = openstack.connection.Connection(
            auth_url=keystone.url, username=self.user, password=PASSWORD, project_name=name,
            user_domain_name="Default", project_domain_name="Default",
            region_name="RegionOne")
        self.session = ksa_session.Session(auth=v3.Password(
            auth_url=keystone.url, username=self.user, password=PASSWORD, project_name=name,
            user_domain_name="Default", project_domain_name="Default"))

    def token(self) -> str:
        return self.keystone.issue_token(self.user, PASSWORD, self.name)


@pytest.fixture(scope="module")
def sim(keystone: LocalKeystone, openstack_sim: OpenStackSim) -> OpenStackSim:
    """The session's simulator, in the catalog whatever earlier tests put there."""
    openstack_sim.register(keystone)
    return openstack_sim


@pytest.fixture(scope="module")
def alice(keystone: LocalKeystone, sim: OpenStackSim) -> Project:
    return Project(keystone, "sim-alice")


@pytest.fixture(scope="module")
def bob(keystone: LocalKeystone, sim: OpenStackSim) -> Project:
    return Project(keystone, "sim-bob")


@pytest.fixture(scope="module")
def admin(keystone: LocalKeystone, sim: OpenStackSim) -> openstack.connection.Connection:
    return openstack.connection.Connection(
        auth_url=keystone.url, username=keystone.admin_user, password=keystone.admin_password,
        project_name=keystone.admin_project, user_domain_name="Default",
        project_domain_name="Default", region_name="RegionOne")


@pytest.fixture(autouse=True)
def _no_faults_left(openstack_sim: OpenStackSim) -> Iterator[None]:
    yield
    openstack_sim.clear_faults()


def _network_with_subnet(conn, name: str, cidr: str) -> tuple[Any, Any]:
    net = conn.network.create_network(name=name)
    subnet = conn.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4,
                                        name=f"{name}-subnet")
    return net, subnet


def _wait(predicate, timeout: float = 15.0, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _raw(sim: OpenStackSim, method: str, path: str, token: str | None = None,
         body: Any = None, timeout: float = 10.0,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection with http.client: status, headers, body."""
    parsed = urllib.parse.urlsplit(sim.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    all_headers = {"Accept": "application/json", **(headers or {})}
    if token:
        all_headers["X-Auth-Token"] = token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


# -- Neutron ---------------------------------------------------------------------------


def test_networks_subnets_and_ports_are_created_listed_and_deleted(alice: Project) -> None:
    conn = alice.conn
    net, subnet = _network_with_subnet(conn, "n-crud", "10.10.0.0/24")
    assert subnet.allocation_pools == [{"start": "10.10.0.2", "end": "10.10.0.254"}]
    assert subnet.gateway_ip == "10.10.0.1"
    ports = [conn.network.create_port(network_id=net.id, name=f"p{i}") for i in range(5)]
    assert [p.fixed_ips[0]["ip_address"] for p in ports] == [
        f"10.10.0.{i}" for i in range(2, 7)]
    assert len({p.mac_address for p in ports}) == 5
    assert all(p.status == "DOWN" and p.device_id == "" for p in ports)
    fixed = conn.network.create_port(network_id=net.id, name="fixed",
                                     fixed_ips=[{"ip_address": "10.10.0.200"}])
    assert fixed.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.10.0.200"}]
    with pytest.raises(sdk_exceptions.ConflictException):
        conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.10.0.200"}])

    assert [n.id for n in conn.network.networks(name="n-crud")] == [net.id]
    paged = list(conn.network.ports(network_id=net.id, limit=2))
    assert sorted(p.id for p in paged) == sorted([p.id for p in ports] + [fixed.id])
    raw = alice.session.get(f"{_endpoint(alice, 'network')}/v2.0/ports",
                            params={"network_id": net.id, "limit": 4}).json()
    assert len(raw["ports"]) == 4 and raw["ports_links"][0]["rel"] == "next"
    assert {n.name for n in conn.network.networks()} >= {"public", "n-crud"}
    public = conn.network.find_network("public")
    assert public.is_router_external and public.provider_network_type is None  # admin-only

    fip = conn.network.create_ip(floating_network_id=public.id, port_id=fixed.id)
    assert (fip.fixed_ip_address, fip.status) == ("10.10.0.200", "ACTIVE")
    assert fip.floating_ip_address.startswith("172.24.4.")
    assert [f.id for f in conn.network.ips(port_id=fixed.id)] == [fip.id]

    with pytest.raises(sdk_exceptions.ConflictException):
        conn.network.delete_network(net)  # ports still on it
    conn.network.delete_ip(fip)
    for port in [*ports, fixed]:
        conn.network.delete_port(port)
    conn.network.delete_network(net)
    assert conn.network.find_network("n-crud") is None
    assert conn.network.find_subnet(subnet.id) is None


def test_an_admin_sees_provider_attributes_and_every_projects_networks(
        admin, alice: Project) -> None:
    net = alice.conn.network.create_network(name="n-seen-by-admin")
    seen = admin.network.get_network(net.id)
    assert (seen.provider_network_type, seen.project_id) == ("vxlan", alice.id)
    assert isinstance(seen.provider_segmentation_id, int)
    public = admin.network.find_network("public")
    assert (public.provider_network_type, public.provider_physical_network) == ("flat",
                                                                                "public")
    with pytest.raises(sdk_exceptions.ForbiddenException):
        alice.conn.network.create_network(name="n-flat", provider_network_type="flat")
    alice.conn.network.delete_network(net)


def _endpoint(project: Project, service_type: str) -> str:
    return project.session.get_endpoint(service_type=service_type, interface="public",
                                        region_name="RegionOne").rstrip("/")


# -- Nova --------------------------------------------------------------------------------


def test_a_server_from_an_image_on_a_port_goes_active_and_binds_the_port(alice: Project) -> None:
    conn = alice.conn
    net, _ = _network_with_subnet(conn, "n-server", "10.20.0.0/24")
    port = conn.network.create_port(network_id=net.id)
    image = conn.image.find_image("cirros-0.6.2-x86_64-disk")
    flavor = conn.compute.find_flavor("m1.small")
    asked = time.monotonic()
    server = conn.compute.create_server(name="vm-port", image_id=image.id, flavor_id=flavor.id,
                                        networks=[{"port": port.id}],
                                        metadata={"purpose": "test"})
    assert conn.compute.get_server(server.id).status == "BUILD" or _late(asked)
    server = conn.compute.wait_for_server(server, wait=20, interval=0.2)
    assert server.status == "ACTIVE" and server.metadata == {"purpose": "test"}
    assert server.addresses["n-server"][0]["addr"] == port.fixed_ips[0]["ip_address"]
    assert server.flavor.original_name == "m1.small" and server.image.id == image.id
    bound = conn.network.get_port(port.id)
    assert (bound.status, bound.device_id, bound.device_owner) == ("ACTIVE", server.id,
                                                                  "compute:nova")
    assert [s.id for s in conn.compute.servers(name="^vm-port$")] == [server.id]

    auto = conn.compute.create_server(name="vm-net", image_id=image.id, flavor_id=flavor.id,
                                      networks=[{"uuid": net.id}])
    auto = conn.compute.wait_for_server(auto, wait=20, interval=0.2)
    made = [p for p in conn.network.ports(device_id=auto.id)]
    assert len(made) == 1 and made[0].network_id == net.id

    conn.compute.delete_server(server)
    conn.compute.delete_server(auto)
    conn.compute.wait_for_delete(server, wait=20, interval=0.2)
    conn.compute.wait_for_delete(auto, wait=20, interval=0.2)
    freed = conn.network.get_port(port.id)
    assert (freed.device_id, freed.status) == ("", "DOWN")
    assert list(conn.network.ports(device_id=auto.id)) == []  # Nova's own port went with it
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.compute.get_server(server.id)
    conn.network.delete_port(port)
    conn.network.delete_network(net)


def test_boot_from_volume_makes_an_in_use_volume_deleted_with_the_server(alice: Project) -> None:
    conn = alice.conn
    image = conn.image.find_image("cirros-0.6.2-x86_64-disk")
    server = conn.compute.create_server(
        name="vm-bfv", flavor_id="1", networks="none",
        block_device_mapping_v2=[{"boot_index": 0, "uuid": image.id, "source_type": "image",
                                  "destination_type": "volume", "volume_size": 2,
                                  "delete_on_termination": True}])
    server = conn.compute.wait_for_server(server, wait=20, interval=0.2)
    assert not server.image  # booted from a volume: Nova's "" image
    [attached] = server.attached_volumes
    volume = conn.block_storage.get_volume(attached["id"])
    assert (volume.status, volume.size, volume.is_bootable) == ("in-use", 2, True)
    assert volume.attachments[0]["server_id"] == server.id
    assert volume.volume_image_metadata["image_id"] == image.id
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=20, interval=0.2)
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.block_storage.get_volume(volume.id)


def test_flavors_and_their_extra_specs(admin, alice: Project) -> None:
    flavor = admin.compute.create_flavor(name="sim.custom", ram=1024, vcpus=2, disk=10)
    try:
        admin.compute.create_flavor_extra_specs(flavor, {"hw:cpu_policy": "dedicated",
                                                         "trait:CUSTOM_X": "required"})
        admin.compute.update_flavor_extra_specs_property(flavor, "hw:mem_page_size", "large")
        seen = alice.conn.compute.get_flavor(flavor.id, get_extra_specs=True)
        assert (seen.name, seen.ram, seen.vcpus, seen.disk) == ("sim.custom", 1024, 2, 10)
        assert seen.extra_specs == {"hw:cpu_policy": "dedicated", "trait:CUSTOM_X": "required",
                                    "hw:mem_page_size": "large"}
        assert alice.conn.compute.get_flavor_extra_specs_property(
            flavor, "hw:cpu_policy") == "dedicated"
        names = [f.name for f in alice.conn.compute.flavors()]
        assert {"m1.tiny", "m1.small", "sim.custom"} <= set(names)
        with pytest.raises(sdk_exceptions.ForbiddenException):
            alice.conn.compute.create_flavor(name="not-allowed", ram=1, vcpus=1, disk=0)
        admin.compute.delete_flavor_extra_specs_property(flavor, "trait:CUSTOM_X")
        assert "trait:CUSTOM_X" not in admin.compute.fetch_flavor_extra_specs(
            flavor).extra_specs
    finally:
        admin.compute.delete_flavor(flavor)
    with pytest.raises(sdk_exceptions.NotFoundException):
        alice.conn.compute.get_flavor(flavor.id)


def test_hypervisors_limits_zones_and_quotas(alice: Project) -> None:
    conn = alice.conn
    hypervisors = list(conn.compute.hypervisors(details=True))
    assert [h.name for h in hypervisors] == ["compute-1", "compute-2"]
    assert all(h.state == "up" and h.status == "enabled" for h in hypervisors)
    compute = _endpoint(alice, "compute")
    old = alice.session.get(f"{compute}/os-hypervisors/detail",
                            headers={"OpenStack-API-Version": "compute 2.60"})
    assert old.headers["OpenStack-API-Version"] == "compute 2.60"
    assert old.headers["X-OpenStack-Nova-API-Version"] == "2.60"
    assert {h["vcpus"] for h in old.json()["hypervisors"]} == {64}
    stats = alice.session.get(f"{compute}/os-hypervisors/statistics").json()
    assert stats["hypervisor_statistics"]["count"] == 2
    assert stats["hypervisor_statistics"]["memory_mb"] == 2 * 262144
    gone = alice.session.get(f"{compute}/os-hypervisors/statistics", raise_exc=False,
                             headers={"OpenStack-API-Version": "compute 2.88"})
    assert gone.status_code == 404  # removed in 2.88, as in Nova
    too_new = alice.session.get(f"{compute}/servers", raise_exc=False,
                                headers={"OpenStack-API-Version": "compute 2.999"})
    assert too_new.status_code == 406

    limits = conn.compute.get_limits().absolute
    assert (limits.instances, limits.total_cores, limits.total_ram) == (10, 20, 51200)
    zones = list(conn.compute.availability_zones())
    assert [z.name for z in zones] == ["nova"]
    quota = conn.compute.get_quota_set(alice.id)
    assert (quota.instances, quota.cores, quota.ram) == (10, 20, 51200)
    volume_limits = conn.block_storage.get_limits().absolute
    assert volume_limits.max_total_volumes == 10
    assert volume_limits.max_total_volume_gigabytes == 1000


def test_quotas_are_enforced_with_novas_403(admin, keystone: LocalKeystone) -> None:
    project = Project(keystone, "sim-quota")
    admin.compute.update_quota_set(project.id, instances=1)
    first = project.conn.compute.create_server(name="q1", flavor_id="42", image_id=_cirros(
        project), networks="none")
    with pytest.raises(sdk_exceptions.ForbiddenException, match="Quota exceeded for instances"):
        project.conn.compute.create_server(name="q2", flavor_id="42",
                                           image_id=_cirros(project), networks="none")
    limits = project.conn.compute.get_limits().absolute
    assert (limits.instances, limits.instances_used) == (1, 1)
    project.conn.compute.delete_server(first)


def _cirros(project: Project) -> str:
    return project.conn.image.find_image("cirros-0.6.2-x86_64-disk").id


# -- Glance and Cinder ------------------------------------------------------------------


def test_an_image_uploaded_with_data_becomes_active_and_downloads_the_same(
        alice: Project) -> None:
    conn = alice.conn
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit
    image = conn.image.create_image(name="sim-upload", data=data, disk_format="raw",
                                    container_format="bare", allow_duplicates=True,
                                    validate_checksum=True, wait=True)
    image = conn.image.get_image(image.id)
    assert (image.status, image.size, image.visibility) == ("active", len(data), "shared")
    assert image.owner == alice.id and image.hash_algo == "sha512"
    assert conn.image.download_image(image).content == data
    names = [i.name for i in conn.image.images(limit=1)]
    assert {"sim-upload", "cirros-0.6.2-x86_64-disk"} <= set(names)
    assert conn.image.download_image(
        conn.image.find_image("cirros-0.6.2-x86_64-disk")).content == seed_bytes()
    conn.image.delete_image(image)
    assert conn.image.find_image(image.id) is None


def test_volumes_are_created_attached_detached_and_deleted(alice: Project) -> None:
    conn = alice.conn
    volume = conn.block_storage.create_volume(size=3, name="sim-vol",
                                              metadata={"team": "red"})
    assert volume.status == "creating"
    volume = conn.block_storage.wait_for_status(volume, "available", wait=20, interval=0.2)
    assert [v.id for v in conn.block_storage.volumes(details=True, name="sim-vol")] == [
        volume.id]
    limits = conn.block_storage.get_limits().absolute
    assert limits.total_volumes_used >= 1 and limits.total_gigabytes_used >= 3

    server = conn.compute.create_server(name="vm-attach", flavor_id="42",
                                        image_id=_cirros(alice), networks="none")
    server = conn.compute.wait_for_server(server, wait=20, interval=0.2)
    attachment = conn.compute.create_volume_attachment(server, volume_id=volume.id)
    assert attachment.device == "/dev/vdb"
    assert conn.block_storage.get_volume(volume).status == "in-use"
    assert [a.volume_id for a in conn.compute.volume_attachments(server)] == [volume.id]
    with pytest.raises(sdk_exceptions.BadRequestException):
        conn.block_storage.delete_volume(volume)  # in use
    conn.compute.delete_volume_attachment(server, volume)
    assert conn.block_storage.get_volume(volume).status == "available"
    conn.compute.delete_server(server)
    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, wait=20, interval=0.2)


# -- Heat --------------------------------------------------------------------------------


def test_a_heat_stack_makes_a_server_with_an_output_and_deletes_it(
        openstack_sim: OpenStackSim, alice: Project) -> None:
    conn = alice.conn
    asked = time.monotonic()
    created = conn.orchestration.create_stack(name="sim-stack", template=SERVER_TEMPLATE,
                                              parameters={"cidr": "10.30.0.0/24"})
    stack = conn.orchestration.get_stack(created.id)
    assert stack.status == "CREATE_IN_PROGRESS" or _late(asked)
    stack = _wait(lambda: _stack_done(conn, created.id), what="the stack")
    assert stack.status == "CREATE_COMPLETE", stack.status_reason
    outputs = {o["output_key"]: o["output_value"] for o in stack.outputs}
    server = conn.compute.get_server(outputs["server_id"])
    assert server.status == "ACTIVE" and server.name.startswith("sim-stack-server-")
    assert outputs["server_ip"] == "10.30.0.2"
    by_name = conn.orchestration.find_stack("sim-stack")  # 302 to /stacks/name/id
    assert by_name.id == created.id
    resources = {r.name: r for r in conn.orchestration.resources(stack)}
    assert {n: r.resource_type for n, r in resources.items()} == {
        "net": "OS::Neutron::Net", "subnet": "OS::Neutron::Subnet",
        "port": "OS::Neutron::Port", "server": "OS::Nova::Server"}
    assert resources["server"].physical_resource_id == server.id
    assert conn.network.get_network(resources["net"].physical_resource_id) is not None

    asked = time.monotonic()
    conn.orchestration.delete_stack(stack)
    status, _, body = _raw(openstack_sim, "GET",
                           f"/heat/v1/{alice.id}/stacks/sim-stack/{created.id}", alice.token())
    if status == 404:
        assert _late(asked)
    else:
        assert (status, json.loads(body)["stack"]["stack_status"]) == (200, "DELETE_IN_PROGRESS")
    _wait(lambda: conn.orchestration.find_stack(created.id) is None, what="the stack to go")
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.compute.get_server(server.id)
    assert conn.network.find_network(resources["net"].physical_resource_id) is None


def _late(asked: float) -> bool:
    """Whether a busy machine took longer than the simulator's build_seconds
    since `asked`, so that a state that lasts that long may be over already."""
    return time.monotonic() - asked >= BUILD_SECONDS


def _stack_done(conn, stack_id: str):
    stack = conn.orchestration.get_stack(stack_id)
    return stack if not stack.status.endswith("IN_PROGRESS") else None


def test_a_bad_template_is_refused_in_heats_error_shape(alice: Project) -> None:
    orchestration = _endpoint(alice, "orchestration")
    response = alice.session.post(f"{orchestration}/stacks", raise_exc=False, json={
        "stack_name": "bad", "template": {"heat_template_version": "2018-08-31",
                                          "resources": {"x": {"type": "OS::Nope"}}}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "StackValidationFailed" and "OS::Nope" in error["message"]


# -- isolation and tokens -----------------------------------------------------------------


def test_another_projects_token_does_not_see_the_first_projects_resources(
        openstack_sim: OpenStackSim, alice: Project, bob: Project) -> None:
    net, _ = _network_with_subnet(alice.conn, "n-private", "10.40.0.0/24")
    server = alice.conn.compute.create_server(name="vm-private", flavor_id="42",
                                              image_id=_cirros(alice), networks="none")
    volume = alice.conn.block_storage.create_volume(size=1, name="vol-private")
    with pytest.raises(sdk_exceptions.NotFoundException):
        bob.conn.compute.get_server(server.id)
    with pytest.raises(sdk_exceptions.NotFoundException):
        bob.conn.network.get_network(net.id)
    with pytest.raises(sdk_exceptions.NotFoundException):
        bob.conn.block_storage.get_volume(volume.id)
    assert server.id not in {s.id for s in bob.conn.compute.servers()}
    assert "n-private" not in {n.name for n in bob.conn.network.networks()}
    token = bob.token()
    status, _, body = _raw(openstack_sim, "DELETE", f"/compute/v2.1/servers/{server.id}",
                           token)
    assert status == 404 and "itemNotFound" in json.loads(body)
    status, _, body = _raw(openstack_sim, "GET", f"/volume/v3/{alice.id}/volumes", token)
    assert status == 403  # another project's URL
    alice.conn.compute.delete_server(server)
    alice.conn.block_storage.wait_for_status(volume, "available", wait=20, interval=0.2)
    alice.conn.block_storage.delete_volume(volume)
    alice.conn.network.delete_network(net)


def test_a_missing_invalid_or_revoked_token_gets_401(openstack_sim: OpenStackSim,
                                                     keystone: LocalKeystone,
                                                     alice: Project) -> None:
    status, headers, body = _raw(openstack_sim, "GET", "/compute/v2.1/servers")
    assert status == 401
    assert headers["WWW-Authenticate"] == f'Keystone uri="{keystone.url}"'
    assert json.loads(body)["error"]["code"] == 401
    assert _raw(openstack_sim, "GET", "/network/v2.0/networks", "not-a-token")[0] == 401

    never_used = alice.token()
    keystone.revoke(never_used)
    assert _raw(openstack_sim, "GET", "/compute/v2.1/servers", never_used)[0] == 401

    used = alice.token()
    openstack_sim.reset_counts()
    assert _raw(openstack_sim, "GET", "/compute/v2.1/servers", used)[0] == 200
    assert _raw(openstack_sim, "GET", "/network/v2.0/networks", used)[0] == 200
    assert openstack_sim.count()["token_validations"] == 1  # the second came from the cache
    keystone.revoke(used)
    openstack_sim.flush_tokens()  # as keystonemiddleware, cached until the cache lets go
    assert _raw(openstack_sim, "GET", "/compute/v2.1/servers", used)[0] == 401
    # version documents need no token
    assert _raw(openstack_sim, "GET", "/compute/")[0] == 200


def test_paging_through_more_than_a_thousand_servers_returns_each_once(
        admin, keystone: LocalKeystone) -> None:
    project = Project(keystone, "sim-many")
    admin.compute.update_quota_set(project.id, instances=-1, cores=-1, ram=-1)
    compute = _endpoint(project, "compute")
    total = 1100
    response = project.session.post(f"{compute}/servers", json={"server": {
        "name": "many", "flavorRef": "42", "imageRef": _cirros(project), "networks": "none",
        "min_count": total, "max_count": total, "return_reservation_id": True}},
        headers={"OpenStack-API-Version": "compute 2.79"})
    assert response.status_code == 202 and response.json()["reservation_id"].startswith("r-")

    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        params = {"limit": 150, **({"marker": marker} if marker else {})}
        body = project.session.get(f"{compute}/servers", params=params).json()
        seen += [s["id"] for s in body["servers"]]
        pages += 1
        if "servers_links" not in body:
            break
        marker = body["servers"][-1]["id"]
    assert len(seen) == total and len(set(seen)) == total and pages == 8
    default_page = project.session.get(f"{compute}/servers").json()
    assert len(default_page["servers"]) == 1000 and default_page["servers_links"]
    via_sdk = [s.id for s in project.conn.compute.servers(details=False)]
    assert sorted(via_sdk) == sorted(seen)
    _delete_all(compute, project.token(), [f"/servers/{server_id}" for server_id in seen])
    _wait(lambda: project.conn.compute.get_limits().absolute.instances_used == 0,
          what="the deleted servers to go")


def _delete_all(root: str, token: str, paths: list[str]) -> None:
    """DELETE each path under root on one kept-alive connection."""
    parsed = urllib.parse.urlsplit(root)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        for path in paths:
            conn.request("DELETE", parsed.path + path, headers={"X-Auth-Token": token})
            response = conn.getresponse()
            response.read()
            assert response.status == 204, (path, response.status)
    finally:
        conn.close()


def test_a_second_simulator_registers_in_its_own_region_and_resets(
        keystone: LocalKeystone, alice: Project, tmp_path) -> None:
    region = "SimRegionTwo"
    try:
        with openstack_sim_process(tmp_path, keystone, region=region) as other:
            fresh = ksa_session.Session(auth=v3.Password(  # a catalog naming the new region
                auth_url=keystone.url, username=alice.user, password=PASSWORD,
                project_name=alice.name, user_domain_name="Default",
                project_domain_name="Default"))
            for service_type, path in (("compute", "/compute/v2.1"), ("network", "/network"),
                                       ("image", "/image"),
                                       ("block-storage", f"/volume/v3/{alice.id}"),
                                       ("volumev3", f"/volume/v3/{alice.id}"),
                                       ("orchestration", f"/heat/v1/{alice.id}")):
                assert fresh.get_endpoint(service_type=service_type, region_name=region,
                                          interface="public") == other.url + path
            token = alice.token()
            status, _, body = _raw(other, "POST", "/network/v2.0/networks", token,
                                   {"network": {"name": "n-region-two"}})
            assert status == 201
            images = json.loads(_raw(other, "GET", "/image/v2/images", token)[2])["images"]
            other.reset()
            networks = json.loads(_raw(other, "GET", "/network/v2.0/networks", token)[2])
            assert [n["name"] for n in networks["networks"]] == ["public"]
            again = json.loads(_raw(other, "GET", "/image/v2/images", token)[2])["images"]
            assert [i["name"] for i in again] == [i["name"] for i in images]
            assert other.count() == {"compute": 0, "network": 1, "image": 1, "volume": 0,
                                     "orchestration": 0, "token_validations": 1}
    finally:  # no endpoints left naming a simulator that is gone
        admin_session = keystone.admin_session()
        for endpoint in admin_session.get(f"{keystone.url}/endpoints",
                                          params={"region_id": region}).json()["endpoints"]:
            admin_session.delete(f"{keystone.url}/endpoints/{endpoint['id']}")


# -- faults --------------------------------------------------------------------------------


def test_a_status_fault_answers_in_the_services_error_shape_then_stops(
        openstack_sim: OpenStackSim, alice: Project) -> None:
    token = alice.token()
    openstack_sim.fault("status", "compute", count=2, status=503)
    for _ in range(2):
        status, _, body = _raw(openstack_sim, "GET", "/compute/v2.1/flavors", token)
        assert status == 503 and json.loads(body)["serviceUnavailable"]["code"] == 503
    assert _raw(openstack_sim, "GET", "/compute/v2.1/flavors", token)[0] == 200
    openstack_sim.fault("status", "network", count=None, status=500, path="/ports")
    status, _, body = _raw(openstack_sim, "GET", "/network/v2.0/ports", token)
    assert status == 500 and "NeutronError" in json.loads(body)
    assert _raw(openstack_sim, "GET", "/network/v2.0/networks", token)[0] == 200
    assert _raw(openstack_sim, "GET", "/network/v2.0/ports", token)[0] == 500  # until cleared
    openstack_sim.clear_faults()
    assert _raw(openstack_sim, "GET", "/network/v2.0/ports", token)[0] == 200


def test_a_garbage_fault_answers_200_with_a_body_that_is_not_json(
        openstack_sim: OpenStackSim, alice: Project) -> None:
    openstack_sim.fault("garbage", "image")
    status, headers, body = _raw(openstack_sim, "GET", "/image/v2/images", alice.token())
    assert status == 200 and headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(body)


def test_a_truncate_fault_sends_less_than_content_length_then_closes(
        openstack_sim: OpenStackSim, alice: Project) -> None:
    openstack_sim.fault("truncate", "compute", bytes=10)
    with pytest.raises(http.client.IncompleteRead) as caught:
        _raw(openstack_sim, "GET", "/compute/v2.1/flavors/detail", alice.token())
    assert len(caught.value.partial) == 10 and caught.value.expected > 0


def test_a_trickle_fault_sends_the_real_answer_slowly(openstack_sim: OpenStackSim,
                                                      alice: Project) -> None:
    token = alice.token()
    expected = _raw(openstack_sim, "GET", "/compute/v2.1/os-availability-zone", token)[2]
    openstack_sim.fault("trickle", "compute", chunk=max(1, len(expected) // 5), interval=0.2)
    started = time.monotonic()
    status, _, body = _raw(openstack_sim, "GET", "/compute/v2.1/os-availability-zone", token)
    assert status == 200 and body == expected
    assert time.monotonic() - started >= 0.8


def test_a_hang_fault_never_answers_until_cleared(openstack_sim: OpenStackSim,
                                                  alice: Project) -> None:
    openstack_sim.fault("hang", "volume", count=2)
    with pytest.raises(socket.timeout):
        _raw(openstack_sim, "GET", f"/volume/v3/{alice.id}/volumes", alice.token(), timeout=1)
    parsed = urllib.parse.urlsplit(openstack_sim.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=5) as sock:
        sock.sendall(f"GET /volume/v3/{alice.id}/volumes HTTP/1.1\r\nHost: sim\r\n"
                     f"X-Auth-Token: {alice.token()}\r\n\r\n".encode())
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        openstack_sim.clear_faults()  # lets hung requests go: closed, never answered
        sock.settimeout(5)
        assert sock.recv(1) == b""


def test_a_reset_fault_resets_the_connection(openstack_sim: OpenStackSim,
                                             alice: Project) -> None:
    openstack_sim.fault("reset", "orchestration")
    with pytest.raises(ConnectionResetError):
        _raw(openstack_sim, "GET", f"/heat/v1/{alice.id}/stacks", alice.token())


def test_a_server_error_fault_makes_the_next_server_go_error(openstack_sim: OpenStackSim,
                                                             alice: Project) -> None:
    openstack_sim.fault("server_error", message="No valid host was found. (simulated)")
    server = alice.conn.compute.create_server(name="vm-error", flavor_id="42",
                                              image_id=_cirros(alice), networks="none")
    with pytest.raises(sdk_exceptions.ResourceFailure):
        alice.conn.compute.wait_for_server(server, wait=20, interval=0.2)
    failed = alice.conn.compute.get_server(server.id)
    assert failed.status == "ERROR"
    assert failed.fault["message"] == "No valid host was found. (simulated)"
    alice.conn.compute.delete_server(failed)


def test_a_quota_fault_refuses_the_next_server_with_403_or_413(openstack_sim: OpenStackSim,
                                                               alice: Project) -> None:
    token = alice.token()
    body = {"server": {"name": "q", "flavorRef": "42", "imageRef": _cirros(alice),
                       "networks": "none"}}
    headers = {"OpenStack-API-Version": "compute 2.79"}
    openstack_sim.fault("quota_exceeded")
    status, _, answer = _raw(openstack_sim, "POST", "/compute/v2.1/servers", token, body,
                             headers=headers)
    assert status == 403 and "Quota exceeded" in json.loads(answer)["forbidden"]["message"]
    openstack_sim.fault("quota_exceeded", status=413, message="Quota exceeded for cores")
    status, _, answer = _raw(openstack_sim, "POST", "/compute/v2.1/servers", token, body,
                             headers=headers)
    assert status == 413 and json.loads(answer)["overLimit"]["message"] == (
        "Quota exceeded for cores")


def test_a_stack_fault_makes_the_next_stack_fail_with_the_reason(openstack_sim: OpenStackSim,
                                                                 alice: Project) -> None:
    conn = alice.conn
    openstack_sim.fault("stack_failed", reason="Resource CREATE failed: simulated outage")
    created = conn.orchestration.create_stack(name="sim-failing", template=SERVER_TEMPLATE,
                                              parameters={"cidr": "10.50.0.0/24"})
    stack = _wait(lambda: _stack_done(conn, created.id), what="the stack")
    assert (stack.status, stack.status_reason) == (
        "CREATE_FAILED", "Resource CREATE failed: simulated outage")
    conn.orchestration.delete_stack(stack)
    _wait(lambda: conn.orchestration.find_stack(created.id) is None, what="the stack to go")


def test_an_image_stuck_fault_keeps_the_next_image_saving(openstack_sim: OpenStackSim,
                                                          alice: Project) -> None:
    conn = alice.conn
    openstack_sim.fault("image_stuck")
    image = conn.image.create_image(name="sim-stuck", disk_format="raw",
                                    container_format="bare", allow_duplicates=True)
    _upload(alice, image.id, b"x" * 1000)
    time.sleep(0.5)
    assert conn.image.get_image(image.id).status == "saving"
    conn.image.delete_image(image)


def _upload(project: Project, image_id: str, data: bytes) -> None:
    project.session.put(f"{_endpoint(project, 'image')}/v2/images/{image_id}/file", data=data,
                        headers={"Content-Type": "application/octet-stream"})


def test_counts_are_per_service(openstack_sim: OpenStackSim, alice: Project) -> None:
    token = alice.token()
    openstack_sim.reset_counts()
    _raw(openstack_sim, "GET", "/compute/v2.1/flavors", token)
    _raw(openstack_sim, "GET", "/compute/v2.1/flavors", token)
    _raw(openstack_sim, "GET", "/network/v2.0/networks", token)
    counts = openstack_sim.count()
    assert {k: counts[k] for k in ("compute", "network", "image", "volume",
                                   "orchestration")} == {
        "compute": 2, "network": 1, "image": 0, "volume": 0, "orchestration": 0}

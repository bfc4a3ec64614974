"""heatbridge through the broker and the OpenStack plugin: a completed stack's
servers and ports recorded as A&AI's vservers and l-interfaces under the
tenant (in SQLite, read through the broker's regions API; in the A&AI
look-alike), removed when the workload is deleted, and an inventory that
fails never costing the workload's answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.openstack_plugin.conftest import (AAI_SCHEMA, OWNER, REGION, REGION_PATH, REGIONS_API,
                                             Chain, regions_api, start_chain)
from tests.openstack_plugin.test_plugin_workloads import call, wait_gone, wait_status
from tests.support.upstreams import AAIServer, aai_esr_record

CIDR = "10.77.0.0/24"


def template(name: str) -> dict:
    """A network, a subnet, a named port and a server on it."""
    return {
        "heat_template_version": "2018-08-31",
        "resources": {
            "net": {"type": "OS::Neutron::Net", "properties": {"name": f"{name}-net"}},
            "subnet": {"type": "OS::Neutron::Subnet", "properties": {
                "network": {"get_resource": "net"}, "cidr": CIDR}},
            "port": {"type": "OS::Neutron::Port", "properties": {
                "name": f"{name}-port", "network": {"get_resource": "net"},
                "fixed_ips": [{"subnet": {"get_resource": "subnet"}}]}},
            "server": {"type": "OS::Nova::Server", "properties": {
                "name": f"{name}-vm", "flavor": "m1.tiny",
                "image": "cirros-0.6.2-x86_64-disk",
                "networks": [{"port": {"get_resource": "port"}}]}}},
        "outputs": {"server_id": {"value": {"get_resource": "server"}},
                    "port_id": {"value": {"get_resource": "port"}}}}


def create(chain: Chain, prefix: str) -> tuple[str, str]:
    """A workload just created: its stack name and its path."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    created = call(chain, "POST", chain.v1("infra_workload"), {
        "template_type": "heat", "template_data": {"stack_name": name,
                                                   "template": template(name)}})
    assert created.status == 201, created
    return name, chain.v1(f"infra_workload/{created.json()['workload_id']}")


def deploy(chain: Chain) -> tuple[str, dict, dict]:
    """A completed workload: its path, its GET answer, its outputs."""
    name, path = create(chain, "hb")
    done = wait_status(chain, path, "CREATE_COMPLETE", "CREATE_FAILED")
    assert done["workload_status"] == "CREATE_COMPLETE", done
    outputs = {o["output_key"]: o["output_value"]
               for o in done["workload_status_reason"]["outputs"]}
    return path, done, {**outputs, "name": name}


@pytest.fixture(scope="module", params=["django", "pecan"])
def chain(request, tmp_path_factory, keystone, openstack_sim) -> Iterator[Chain]:
    openstack_sim.register(keystone)
    made = start_chain(tmp_path_factory.mktemp(f"heatbridge-{request.param}"), keystone,
                       openstack_sim, request.param, sections=REGIONS_API)
    yield made
    made.broker.stop()
    made.plugin.stop()


def test_a_completed_stack_is_recorded_and_removed_on_delete(chain: Chain) -> None:
    path, done, out = deploy(chain)
    assert done["heatbridge"] == {"status": "UPDATE_COMPLETE"}
    vserver_path = (f"{REGION_PATH}/tenants/tenant/{chain.tenant}/vservers/vserver/"
                    f"{out['server_id']}")
    vserver = regions_api(chain, f"{vserver_path}?depth=all")
    assert vserver.status == 200, vserver
    doc = vserver.json()
    assert doc["vserver-name"] == f"{out['name']}-vm"
    assert doc["prov-status"] == "ACTIVE"
    assert doc["vserver-selflink"].endswith(f"/servers/{out['server_id']}")
    (interface,) = doc["l-interfaces"]["l-interface"]
    assert interface["interface-name"] == f"{out['name']}-port"
    assert interface["interface-id"] == out["port_id"]
    assert interface["network-name"] == f"{out['name']}-net"
    assert len(interface["macaddr"].split(":")) == 6
    (address,) = interface["l3-interface-ipv4-address-list"]
    assert address["l3-interface-ipv4-address"].startswith("10.77.0.")
    assert address["l3-interface-ipv4-prefix-length"] == 24

    # Later GETs and ONAP's explicit update keep one record of it.
    assert call(chain, "GET", path).json()["heatbridge"] == {"status": "UPDATE_COMPLETE"}
    updated = call(chain, "POST", path)
    assert updated.status == 202 and updated.json()["workload_status"] == "UPDATE_COMPLETE"
    servers = regions_api(chain, f"{REGION_PATH}/tenants/tenant/{chain.tenant}/vservers")
    assert [v["vserver-id"] for v in servers.json()["vserver"]].count(out["server_id"]) == 1

    deleted = call(chain, "DELETE", path)
    assert deleted.status == 202
    assert deleted.json()["heatbridge"] == {"status": "DELETE_COMPLETE"}
    assert regions_api(chain, vserver_path).status == 404
    assert wait_gone(chain, path) == 404


def test_a_stack_in_progress_or_failed_is_not_recorded(chain: Chain) -> None:
    chain.sim.fault("stack_failed", reason="Resource CREATE failed: no room")
    name = f"hbf-{uuid.uuid4().hex[:8]}"
    created = call(chain, "POST", chain.v0("infra_workload"), {
        "template_type": "heat", "template_data": {"stack_name": name,
                                                   "template": template(name)}})
    path = chain.v0(f"infra_workload/{created.json()['workload_id']}")
    early = call(chain, "POST", path)  # nothing to record before it completes
    failed = wait_status(chain, path, "CREATE_COMPLETE", "CREATE_FAILED")
    assert failed["workload_status"] == "CREATE_FAILED" and "heatbridge" not in failed
    assert early.status == 409 or call(chain, "POST", path).status == 409
    assert call(chain, "DELETE", path).status == 202
    assert wait_gone(chain, path) == 404


# A&AI as the inventory --------------------------------------------------------------


@pytest.fixture(scope="module")
def aai_chain(tmp_path_factory, keystone, openstack_sim) -> Iterator[tuple]:
    openstack_sim.register(keystone)
    aai = AAIServer().start()
    aai.add_region(OWNER, REGION, "openstack", "ocata")
    aai.set_esr(OWNER, REGION, aai_esr_record(
        service_url=keystone.url, user_name=keystone.admin_user,
        password=keystone.admin_password, **{"default-tenant": keystone.admin_project}))
    sections = {"inventory": {"backend": "aai"},
                "aai": {"protocol": "http", "host": "127.0.0.1", "port": aai.port,
                        "schema_version": AAI_SCHEMA, "read_timeout": 2, "connect_timeout": 1}}
    made = start_chain(tmp_path_factory.mktemp("heatbridge-aai"), keystone, openstack_sim,
                       "django", sections=sections)
    yield made, aai
    made.broker.stop()
    made.plugin.stop()
    aai.stop()


def test_with_aai_the_servers_are_put_there_and_deleted(aai_chain) -> None:
    chain, aai = aai_chain
    path, done, out = deploy(chain)
    assert done["heatbridge"] == {"status": "UPDATE_COMPLETE"}
    tenant = f"cloud-regions/cloud-region/{OWNER}/{REGION}/tenants/tenant/{chain.tenant}"
    vserver = f"{tenant}/vservers/vserver/{out['server_id']}"
    stored = aai.objects_under(vserver)
    assert stored[vserver]["vserver-name"] == f"{out['name']}-vm"
    interface = stored[f"{vserver}/l-interfaces/l-interface/{out['name']}-port"]
    assert interface["interface-id"] == out["port_id"]
    assert tenant in aai.objects  # the parent A&AI needs, written first

    deleted = call(chain, "DELETE", path)
    assert deleted.json()["heatbridge"] == {"status": "DELETE_COMPLETE"}
    assert aai.objects_under(vserver) == {}
    assert wait_gone(chain, path) == 404


def test_with_aai_down_the_workload_is_still_answered_and_the_fault_reported(
        aai_chain) -> None:
    chain, aai = aai_chain
    name, path = create(chain, "hbd")
    # Broker and plugin serve the region they saw from their caches meanwhile.
    aai.go_down()
    try:
        done = wait_status(chain, path, "CREATE_COMPLETE", "CREATE_FAILED")
    finally:
        aai.come_up()
    assert done["workload_status"] == "CREATE_COMPLETE"
    assert done["workload_status_reason"]["stack_name"] == name
    assert done["heatbridge"]["status"] == "UPDATE_FAILED"
    assert "inventory (A&AI) unreachable" in done["heatbridge"]["reason"]
    logged = chain.plugin.stderr_path.read_text() + chain.plugin.stdout_path.read_text()
    assert f"heatbridge: stack {done['workload_id']}" in logged and "UPDATE_FAILED" in logged
    # A&AI back: the next GET records it.
    again = call(chain, "GET", path).json()
    assert again["heatbridge"] == {"status": "UPDATE_COMPLETE"}
    server = again["workload_status_reason"]["outputs"]
    server_id = next(o["output_value"] for o in server if o["output_key"] == "server_id")
    assert any(k.endswith(f"/vservers/vserver/{server_id}") for k in aai.objects)
    assert call(chain, "DELETE", path).json()["heatbridge"] == {"status": "DELETE_COMPLETE"}
    assert wait_gone(chain, path) == 404

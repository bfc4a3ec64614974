"""registry through the broker and the OpenStack plugin: the region's tenants,
flavors (with HPA capabilities), images, availability zones and hypervisors
discovered from the real Keystone and the simulator, recorded in the
inventory (SQLite, read back through the broker's regions API; A&AI, the
look-alike's objects; PostgreSQL), idempotent, all or nothing, and removed
by unregistering."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from openstack import connection

from tests.openstack_plugin.conftest import (AAI_SCHEMA, OWNER, REGION, REGION_PATH, REGIONS_API,
                                             Chain, admin_sdk, regions_api, start_chain)
from tests.support.client import Reply, request
from tests.support.postgres import BROKER_PASSWORD, postgres_server  # noqa: F401
from tests.support.upstreams import AAIServer, aai_esr_record

AAI_REGION = f"cloud-regions/cloud-region/{OWNER}/{REGION}"
HPA_SPECS = {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "prefer",
             "hw:mem_page_size": "large", "hw:numa_nodes": "2", "hw:numa_cpus.0": "0,1",
             "hw:numa_mem.0": "1024", "hw:numa_cpus.1": "2,3", "hw:numa_mem.1": "1024",
             "pci_passthrough:alias": "a-b-x86_64-8086-154C:2",
             "aggregate_instance_extra_specs:sriov_nic": "a-b-x86_64-8086-10ED-physnet1:4"}


def call(chain: Chain, method: str, path: str, txid: str | None = None) -> Reply:
    headers = {"X-TransactionID": txid} if txid else None
    return request(chain.broker.url, method, path, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def cloud(keystone, openstack_sim) -> Iterator[connection.Connection]:
    openstack_sim.register(keystone)
    conn = admin_sdk(keystone)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def hpa_flavor(cloud) -> Iterator[dict]:
    """An `onap.*` flavor with HPA extra specs (ONAP registers HPA for those only)."""
    made = cloud.compute.post("/flavors", json={"flavor": {
        "name": f"onap.hpa-{uuid.uuid4().hex[:6]}", "vcpus": 4, "ram": 4096, "disk": 20,
        "swap": 512, "OS-FLV-EXT-DATA:ephemeral": 5}}).json()["flavor"]
    cloud.compute.post(f"/flavors/{made['id']}/os-extra_specs",
                       json={"extra_specs": HPA_SPECS})
    yield made
    cloud.compute.delete(f"/flavors/{made['id']}")


@pytest.fixture(scope="module", params=["django", "pecan"])
def chain(request, tmp_path_factory, keystone, openstack_sim, cloud) -> Iterator[Chain]:
    """The chain on SQLite, with the broker's regions API on."""
    made = start_chain(tmp_path_factory.mktemp(f"registry-{request.param}"), keystone,
                       openstack_sim, request.param, sections=REGIONS_API)
    yield made
    made.broker.stop()
    made.plugin.stop()


def truth(cloud: connection.Connection) -> dict[str, set]:
    """What the cloud holds, read straight from its services."""
    zones = cloud.compute.get("/os-availability-zone/detail").json()["availabilityZoneInfo"]
    return {
        "tenants": {p.id for p in cloud.identity.projects()},
        "flavors": {f["id"] for f in cloud.compute.get("/flavors/detail").json()["flavors"]},
        "images": {i.id for i in cloud.image.images()},
        "zones": {z["zoneName"] for z in zones if z["zoneName"] != "internal"},
        "hosts": {h["hypervisor_hostname"] for h in
                  cloud.compute.get("/os-hypervisors/detail").json()["hypervisors"]},
    }


def ids(doc: dict, container: str, kind: str, field: str) -> set:
    return {item[field] for item in (doc.get(container) or {}).get(kind, [])}


def features(flavor: dict) -> dict[str, dict[str, dict]]:
    """feature -> attribute key -> its value (decoded JSON)."""
    return {cap["hpa-feature"]: {a["hpa-attribute-key"]: json.loads(a["hpa-attribute-value"])
                                 for a in cap["hpa-feature-attributes"]}
            for cap in flavor["hpa-capabilities"]["hpa-capability"]}


def test_the_region_is_discovered_and_readable_through_the_regions_api(
        chain: Chain, cloud, hpa_flavor) -> None:
    posted = call(chain, "POST", chain.v0("registry"))
    assert posted.status == 202, posted
    record = posted.json()
    held = truth(cloud)
    assert ids(record, "tenants", "tenant", "tenant-id") == held["tenants"]
    assert chain.tenant in held["tenants"]
    assert ids(record, "flavors", "flavor", "flavor-id") == held["flavors"]
    assert ids(record, "images", "image", "image-id") == held["images"]
    assert ids(record, "availability-zones", "availability-zone",
               "availability-zone-name") == held["zones"]
    assert ids(record, "pservers", "pserver", "hostname") == \
        {f"{OWNER}_{REGION}_{h}" for h in held["hosts"]}

    # GET answers what is recorded, under v1 too.
    shown = call(chain, "GET", chain.v1("registry"))
    assert shown.status == 200
    assert {k: v for k, v in shown.json().items() if k != "status"} == \
        {k: v for k, v in record.items() if k != "status"}

    # The broker's regions API shows the same, at A&AI's paths.
    flavor = regions_api(chain, f"{REGION_PATH}/flavors/flavor/{hpa_flavor['id']}?depth=all")
    assert flavor.status == 200, flavor
    doc = flavor.json()
    assert (doc["flavor-name"], doc["flavor-vcpus"], doc["flavor-ram"]) == \
        (hpa_flavor["name"], 4, 4096)
    found = features(doc)
    assert found["basicCapabilities"] == {"numVirtualCpu": {"value": "4"},
                                          "virtualMemSize": {"value": "4096", "unit": "MB"}}
    assert found["localStorage"] == {"diskSize": {"value": "20", "unit": "GB"},
                                     "swapMemSize": {"value": "512", "unit": "MB"},
                                     "ephemeralDiskSize": {"value": "5", "unit": "GB"}}
    assert found["cpuPinning"] == {"logicalCpuPinningPolicy": {"value": "dedicated"},
                                   "logicalCpuThreadPinningPolicy": {"value": "prefer"}}
    assert found["hugePages"] == {"memoryPageSize": {"value": "2", "unit": "MB"}}
    assert found["numa"] == {"numaNodes": {"value": "2"},
                             "numaCpu-0": {"value": "0,1"},
                             "numaMem-0": {"value": "1024", "unit": "MB"},
                             "numaCpu-1": {"value": "2,3"},
                             "numaMem-1": {"value": "1024", "unit": "MB"}}
    assert found["pciePassthrough"] == {"pciCount": {"value": "2"},
                                        "pciVendorId": {"value": "8086"},
                                        "pciDeviceId": {"value": "154C"}}
    assert found["sriovNICNetwork"]["physicalNetwork"] == {"value": "physnet1"}
    assert "cpuTopology" not in found  # no hw:cpu_sockets/cores/threads given
    # Flavors not named onap.* get none, as ONAP's plugin does.
    plain = regions_api(chain, f"{REGION_PATH}/flavors/flavor/1?depth=all").json()
    assert "hpa-capabilities" not in plain

    whole = regions_api(chain, f"{REGION_PATH}?depth=all").json()
    assert whole["cloud-type"] == "openstack"
    zone = whole["availability-zones"]["availability-zone"][0]
    related = {d["relationship-value"] for r in zone["relationship-list"]["relationship"]
               for d in r["relationship-data"]}
    assert related == {f"{OWNER}_{REGION}_{h}" for h in held["hosts"]}
    assert set(regions_api(chain, f"{REGION_PATH}/images").json()) == {"image"}
    assert regions_api(chain, REGION_PATH).json().get("flavors") is None  # depth 0
    assert regions_api(chain, f"{REGION_PATH}/flavors/flavor/no-such").status == 404


def test_registering_again_changes_nothing_and_drops_what_the_cloud_lost(
        chain: Chain, cloud) -> None:
    before = regions_api(chain, f"{REGION_PATH}?depth=all").json()
    assert call(chain, "POST", chain.v1("registry")).status == 202
    assert regions_api(chain, f"{REGION_PATH}?depth=all").json() == before

    gone = cloud.compute.post("/flavors", json={"flavor": {
        "name": f"brief-{uuid.uuid4().hex[:6]}", "vcpus": 1, "ram": 64, "disk": 1}}
    ).json()["flavor"]
    assert call(chain, "POST", chain.v1("registry")).status == 202
    path = f"{REGION_PATH}/flavors/flavor/{gone['id']}"
    assert regions_api(chain, path).status == 200
    cloud.compute.delete(f"/flavors/{gone['id']}")
    assert call(chain, "POST", chain.v1("registry")).status == 202
    assert regions_api(chain, path).status == 404
    assert regions_api(chain, f"{REGION_PATH}?depth=all").json() == before


@pytest.mark.parametrize("service, path, status", [
    ("image", "/images", 503), ("compute", "/os-hypervisors", 500)])
def test_a_cloud_failing_half_way_leaves_the_record_as_it_was(
        chain: Chain, service: str, path: str, status: int) -> None:
    before = call(chain, "GET", chain.v0("registry")).json()
    chain.sim.fault("status", service=service, path=path, status=status)
    try:
        failed = call(chain, "POST", chain.v0("registry"))
    finally:
        chain.sim.clear_faults()
    assert failed.status == 502, failed
    assert f"{service} answered {status}" in failed.json()["error"]
    assert call(chain, "GET", chain.v0("registry")).json() == before


def test_unregistering_removes_the_record_and_keeps_the_region(chain: Chain) -> None:
    assert call(chain, "DELETE", f"/api/multicloud/v1/{OWNER}/{REGION}").status == 204
    missing = call(chain, "GET", chain.v1("registry"))
    assert missing.status == 404 and "not registered" in missing.json()["error"]
    assert regions_api(chain, f"{REGION_PATH}/flavors").status == 404
    assert regions_api(chain, REGION_PATH).status == 200  # the region is the regions API's
    assert call(chain, "GET", chain.v0("tenants")).status == 200  # and still served
    # Unregistering what is not registered is no error (ONAP answers 204 too).
    assert call(chain, "DELETE", f"/api/multicloud/v0/{OWNER}_{REGION}").status == 204
    unknown = call(chain, "POST", "/api/multicloud/v0/acme_NoSuchRegion/registry")
    assert unknown.status == 404


# A&AI as the inventory ------------------------------------------------------------


@pytest.fixture(scope="module")
def aai_chain(tmp_path_factory, keystone, openstack_sim, cloud) -> Iterator[tuple]:
    aai = AAIServer().start()
    aai.add_region(OWNER, REGION, "openstack", "ocata")
    aai.set_esr(OWNER, REGION, aai_esr_record(
        service_url=keystone.url, user_name=keystone.admin_user,
        password=keystone.admin_password, **{"default-tenant": keystone.admin_project,
                                             "cloud-domain": "Default"}))
    sections = {"inventory": {"backend": "aai", "cache_ttl": 0},
                "aai": {"protocol": "http", "host": "127.0.0.1", "port": aai.port,
                        "schema_version": AAI_SCHEMA, "username": "aai-user",
                        "password": "aai-pw"}}
    made = start_chain(tmp_path_factory.mktemp("registry-aai"), keystone, openstack_sim,
                       "pecan", sections=sections)
    yield made, aai
    made.broker.stop()
    made.plugin.stop()
    aai.stop()


def test_with_aai_the_region_is_written_there_once_and_removed(aai_chain, cloud,
                                                                hpa_flavor) -> None:
    chain, aai = aai_chain
    txid = f"registry-{uuid.uuid4()}"
    posted = call(chain, "POST", chain.v1("registry"), txid)
    assert posted.status == 202, posted
    held = truth(cloud)
    stored = aai.objects_under(AAI_REGION)
    assert {k.rsplit("/", 1)[1] for k in stored if k.startswith(f"{AAI_REGION}/flavors/flavor/")
            and k.count("/") == 6} == held["flavors"]
    assert {k.rsplit("/", 1)[1] for k in stored
            if k.startswith(f"{AAI_REGION}/tenants/tenant/")} == held["tenants"]
    caps = [v for k, v in stored.items() if "/hpa-capabilities/" in k
            and f"/flavor/{hpa_flavor['id']}/" in k]
    assert {c["hpa-feature"] for c in caps} >= {"basicCapabilities", "numa", "hugePages"}
    pservers = aai.objects_under("pservers/pserver")
    assert {v["hostname"] for v in pservers.values()} == \
        {f"{OWNER}_{REGION}_{h}" for h in held["hosts"]}
    relation = next(iter(pservers.values()))["relationship-list"]["relationship"][0]
    assert relation["related-link"] == f"/aai/{AAI_SCHEMA}/cloud-infrastructure/{AAI_REGION}"
    # A&AI's rules were kept: the caller's transaction id, the plugin's app id.
    puts = [r for r in aai.requests if r.method == "PUT"]
    assert puts and all(r.headers["X-TransactionId"] == txid for r in puts)
    assert all(r.headers["X-FromAppId"] == "MultiCloud" for r in puts)
    assert all(aai.basic_auth(r) == ("aai-user", "aai-pw") for r in puts)

    # GET reads it back from A&AI; a second run writes nothing.
    shown = call(chain, "GET", chain.v0("registry")).json()
    assert ids(shown, "flavors", "flavor", "flavor-id") == held["flavors"]
    versions = {k: v["resource-version"] for k, v in aai.objects.items()}
    aai.clear_requests()
    assert call(chain, "POST", chain.v0("registry")).status == 202
    assert [r for r in aai.requests if r.method in ("PUT", "DELETE")] == []
    assert {k: v["resource-version"] for k, v in aai.objects.items()} == versions

    # Unregistering deletes every object (each with its resource-version), not the region.
    assert call(chain, "DELETE", chain.v0("")[:-1]).status == 204
    assert aai.objects == {}
    assert (OWNER, REGION) in aai.regions
    assert call(chain, "GET", chain.v0("registry")).status == 404


def test_with_aai_failing_the_answer_names_it(aai_chain) -> None:
    chain, aai = aai_chain
    aai.set_mode("error")
    try:
        failed = call(chain, "POST", chain.v1("registry"))
    finally:
        aai.set_mode("ok")
    assert failed.status == 503, failed
    assert "A&AI" in failed.json()["error"]


# PostgreSQL ---------------------------------------------------------------------


def test_with_postgresql_the_record_is_kept_and_removed(
        postgres_server, tmp_path_factory, keystone, openstack_sim, cloud) -> None:  # noqa: F811
    from multicloud_broker.inventory.postgresql import PostgresInventory
    from tests.openstack_plugin.conftest import region_record
    database = postgres_server.database()
    url = postgres_server.url(database)
    password_file = tmp_path_factory.mktemp("pg") / "password"
    password_file.write_text(BROKER_PASSWORD + "\n")
    store = PostgresInventory(url, str(password_file))
    store.check()
    store.add(region_record(keystone))
    sections = {"inventory": {"backend": "postgresql", "postgresql_url": url,
                              "postgresql_password_file": str(password_file)}}
    chain = start_chain(tmp_path_factory.mktemp("registry-pg"), keystone, openstack_sim,
                        "django", sections=sections)
    try:
        assert call(chain, "POST", chain.v1("registry")).status == 202
        recorded = call(chain, "GET", chain.v1("registry")).json()
        assert ids(recorded, "flavors", "flavor", "flavor-id") == truth(cloud)["flavors"]
        again = call(chain, "POST", chain.v1("registry")).json()
        assert {k: v for k, v in again.items() if k != "status"} == \
            {k: v for k, v in recorded.items() if k != "status"}
        assert call(chain, "DELETE", f"/api/multicloud/v1/{OWNER}/{REGION}").status == 204
        assert store.children(OWNER, REGION) == {}
        store.remove(OWNER, REGION)  # and with it anything recorded (the cascade)
    finally:
        chain.broker.stop()
        chain.plugin.stop()
        store.close()

"""The whole chain on 127.0.0.1: a broker, the OpenStack plugin behind it, the
real Keystone and the OpenStack simulator, a region with its credentials in
the inventory they share (SQLite). Under each web framework."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openstack import connection

from multicloud_broker.inventory import CloudAccess, CloudRegion
from multicloud_broker.inventory.sqlite import SqliteInventory
from multicloud_broker.simulators.keystone import LocalKeystone
from tests.support.broker import BrokerProcess
from tests.support.client import Reply, request
from tests.support.keystone import keystone_fixture, make_keystone_fixture  # noqa: F401
from tests.support.openstack_sim import OpenStackSim, openstack_sim_fixture  # noqa: F401
from tests.support.plugin import PluginProcess
from tests.support.upstreams import free_port

OWNER, REGION = "acme", "RegionOne"
VIMID = f"{OWNER}_{REGION}"
PLUGIN = "multicloud-ocata"


@dataclass
class Chain:
    broker: BrokerProcess
    plugin: PluginProcess
    keystone: LocalKeystone
    sim: OpenStackSim
    tenant: str  # the admin project's id: the region's default tenant
    inventory: Path

    def v0(self, rest: str) -> str:
        """A broker path of the region under API v0."""
        return f"/api/multicloud/v0/{VIMID}/{rest}"

    def v1(self, rest: str) -> str:
        return f"/api/multicloud/v1/{OWNER}/{REGION}/{rest}"


def region_record(keystone: LocalKeystone, region_id: str = REGION, password: str | None = None,
                  **access: object) -> CloudRegion:
    """A region whose cloud access is the Keystone's admin (or as given)."""
    fields = dict(auth_url=keystone.url, username=keystone.admin_user,
                  password=password or keystone.admin_password, project=keystone.admin_project,
                  openstack_region=keystone.region)
    fields.update(access)
    return CloudRegion(OWNER, region_id, "openstack", "ocata", access=CloudAccess(**fields))


# Patient upstream timeouts: a busy test machine's Keystone can take seconds
# to answer. Tests of timeouts set short ones (test_plugin_faults.FAST).
PATIENT = {"read_timeout": 15, "connect_timeout": 5, "total_timeout": 30}


def chain_config(inventory: Path, log_level: str = "INFO", **plugin: object) -> dict:
    return {"DEFAULT": {"graceful_shutdown_timeout": 5, "log_level": log_level},
            "inventory": {"backend": "sqlite", "sqlite_path": str(inventory)},
            "openstack_plugin": {**PATIENT, **plugin}}


def start_chain(workdir: Path, keystone: LocalKeystone, sim: OpenStackSim, framework: str,
                backend: str | None = None, plugin_workers: int = 1,
                log_level: str = "INFO", sections: dict | None = None,
                **plugin_options: object) -> Chain:
    """Broker (one worker) and plugin processes on a fresh inventory;
    `sections`: more config sections for both (e.g. another inventory)."""
    inventory = workdir / "inventory.sqlite"
    SqliteInventory(str(inventory)).add(region_record(keystone))
    broker_port = free_port()
    plugin_conf = chain_config(inventory, log_level,
                               broker_url=f"http://127.0.0.1:{broker_port}", **plugin_options)
    plugin = PluginProcess(workdir, {**plugin_conf, **(sections or {})},
                           web_framework=framework, workers=plugin_workers, name="plugin")
    plugin.server_backend = backend
    plugin.start()
    broker_conf = {**chain_config(inventory, log_level), **(sections or {})}
    broker_conf["plugins"] = {"endpoints": {PLUGIN: plugin.url}}
    try:
        broker = BrokerProcess(workdir, broker_conf, web_framework=framework, workers=1,
                               port=broker_port, name="broker").start()
    except BaseException:  # pytest-timeout's Failed is no Exception: stop the plugin anyway
        plugin.stop()
        raise
    tenant = keystone.admin_session().get_project_id()
    return Chain(broker, plugin, keystone, sim, tenant, inventory)


@pytest.fixture(scope="module", params=["django", "pecan"])
def chain(request, tmp_path_factory, keystone, openstack_sim) -> Iterator[Chain]:
    made = start_chain(tmp_path_factory.mktemp(f"chain-{request.param}"), keystone,
                       openstack_sim, request.param)
    yield made
    made.broker.stop()
    made.plugin.stop()


def admin_sdk(keystone: LocalKeystone, auth_url: str | None = None,
              region: str | None = None) -> connection.Connection:
    """openstacksdk as the Keystone's admin: straight to the cloud, or through
    MultiCloud when `auth_url` is the broker's identity URL."""
    return connection.Connection(
        auth_url=auth_url or keystone.url, username=keystone.admin_user,
        password=keystone.admin_password, project_name=keystone.admin_project,
        user_domain_name="Default", project_domain_name="Default",
        region_name=region or keystone.region)


# The broker's regions API (A&AI's paths), on for the chains that read what
# the plugin wrote to the inventory (registry, heatbridge).
REGIONS_API_USER, REGIONS_API_PASSWORD = "regions-admin", "regions-pw-for-tests"
AAI_SCHEMA = "v13"
REGION_PATH = f"/aai/{AAI_SCHEMA}/cloud-infrastructure/cloud-regions/cloud-region/{OWNER}/{REGION}"
REGIONS_API = {"aai": {"schema_version": AAI_SCHEMA},
               "region_api": {"username": REGIONS_API_USER, "password": REGIONS_API_PASSWORD}}


def regions_api(chain: Chain, path: str) -> Reply:
    """GET a regions-API path of the chain's broker, with its credentials."""
    token = base64.b64encode(f"{REGIONS_API_USER}:{REGIONS_API_PASSWORD}".encode()).decode()
    return request(chain.broker.url, "GET", path, headers={"Authorization": f"Basic {token}"})

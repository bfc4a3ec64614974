"""Builds the broker's parts from the configuration, once per process."""

from __future__ import annotations

from collections.abc import Callable

from oslo_config import cfg

from multicloud_broker import metrics
from multicloud_broker.config import catalog_path
from multicloud_broker.core.broker import Broker
from multicloud_broker.core.capacity import CapacityFanOut
from multicloud_broker.core.catalog import PluginCatalog
from multicloud_broker.core.forwarder import Forwarder
from multicloud_broker.core.regions import Credentials, RegionApi
from multicloud_broker.inventory import Inventory, InventoryConfigError, RegionStore
from multicloud_broker.inventory.aai import AaiInventory
from multicloud_broker.inventory.cache import CachedInventory
from multicloud_broker.inventory.postgresql import postgres_inventory
from multicloud_broker.inventory.sqlite import SqliteInventory


def build_inventory(conf: cfg.ConfigOpts, store: RegionStore | None = None) -> Inventory:
    """The configured inventory, with the per-worker cache for A&AI and PostgreSQL;
    `store`: the sqlite or PostgreSQL store to use (one pool, shared with the
    regions API), else a new one."""
    inv = conf.inventory
    # Backend lookups are counted and timed (metrics), inside the cache.
    if inv.backend == "sqlite":
        return metrics.CountedInventory(store or SqliteInventory(inv.sqlite_path), "sqlite")
    inventory: Inventory = metrics.CountedInventory(
        AaiInventory(conf) if inv.backend == "aai" else store or postgres_inventory(conf),
        inv.backend)
    if inv.cache_ttl > 0:
        inventory = CachedInventory(inventory, inv.cache_ttl, inv.stale_ttl, inv.negative_ttl)
    return inventory


def build_region_store(conf: cfg.ConfigOpts) -> RegionStore:
    """The inventory the broker manages itself (`region` commands); not A&AI."""
    if conf.inventory.backend == "aai":
        raise InventoryConfigError("the inventory is A&AI: manage regions there")
    if conf.inventory.backend == "postgresql":
        return postgres_inventory(conf)
    return SqliteInventory(conf.inventory.sqlite_path)


def build_region_api(conf: cfg.ConfigOpts, store: RegionStore | None) -> RegionApi:
    """The regions API: on when [region_api] has credentials (config.validate
    checked they come in pairs and that the password file is readable)."""
    api = conf.region_api
    password = api.password
    if not password and api.password_file:
        with open(api.password_file, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
    credentials = Credentials(api.username, password) if api.username and password else None
    return RegionApi(conf.aai.schema_version, credentials, store)


def plugin_base_urls(conf: cfg.ConfigOpts) -> Callable[[str], str]:
    """plugin name -> base URL: its own endpoint, else the MSB gateway."""
    endpoints = {name: url.rstrip("/") for name, url in conf.plugins.endpoints.items()}
    msb = f"{conf.msb.protocol}://{conf.msb.host}:{conf.msb.port}"
    return lambda plugin: endpoints.get(plugin, msb)


def build_broker(conf: cfg.ConfigOpts) -> Broker:
    """A Broker with catalog, inventory and pooled plugin client."""
    plugins = conf.plugins
    metrics.configure(conf.web_framework)
    store = None if conf.inventory.backend == "aai" else build_region_store(conf)
    return Broker(
        catalog=PluginCatalog.load(catalog_path(conf)),
        inventory=build_inventory(conf, store),
        forwarder=Forwarder(plugins.connect_timeout, plugins.read_timeout,
                            plugins.total_timeout, plugins.max_connections_per_plugin,
                            plugins.pool_maxsize, conf.max_body_size),
        plugin_base=plugin_base_urls(conf),
        fan_out=CapacityFanOut(plugins.capacity_timeout, plugins.capacity_concurrency,
                               plugins.capacity_max_vims),
        max_body_size=conf.max_body_size,
        probe_interval=conf.inventory.probe_interval,
        regions=build_region_api(conf, store),
    )

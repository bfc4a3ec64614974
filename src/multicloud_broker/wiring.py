"""Builds the broker's parts from the configuration, once per process."""

from __future__ import annotations

from collections.abc import Callable

from oslo_config import cfg

from multicloud_broker.config import catalog_path
from multicloud_broker.core.broker import Broker
from multicloud_broker.core.capacity import CapacityFanOut
from multicloud_broker.core.catalog import PluginCatalog
from multicloud_broker.core.forwarder import Forwarder
from multicloud_broker.inventory import Inventory, InventoryConfigError, RegionStore
from multicloud_broker.inventory.aai import AaiInventory
from multicloud_broker.inventory.cache import CachedInventory
from multicloud_broker.inventory.postgresql import postgres_inventory
from multicloud_broker.inventory.sqlite import SqliteInventory


def build_inventory(conf: cfg.ConfigOpts) -> Inventory:
    """The configured inventory, with the per-worker cache for A&AI and PostgreSQL."""
    inv = conf.inventory
    if inv.backend == "sqlite":
        return SqliteInventory(inv.sqlite_path)
    inventory: Inventory = (AaiInventory(conf) if inv.backend == "aai"
                            else postgres_inventory(conf))
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


def plugin_base_urls(conf: cfg.ConfigOpts) -> Callable[[str], str]:
    """plugin name -> base URL: its own endpoint, else the MSB gateway."""
    endpoints = {name: url.rstrip("/") for name, url in conf.plugins.endpoints.items()}
    msb = f"{conf.msb.protocol}://{conf.msb.host}:{conf.msb.port}"
    return lambda plugin: endpoints.get(plugin, msb)


def build_broker(conf: cfg.ConfigOpts) -> Broker:
    """A Broker with catalog, inventory and pooled plugin client."""
    plugins = conf.plugins
    return Broker(
        catalog=PluginCatalog.load(catalog_path(conf)),
        inventory=build_inventory(conf),
        forwarder=Forwarder(plugins.connect_timeout, plugins.read_timeout,
                            plugins.total_timeout, plugins.max_connections_per_plugin,
                            plugins.pool_maxsize, conf.max_body_size),
        plugin_base=plugin_base_urls(conf),
        fan_out=CapacityFanOut(plugins.capacity_timeout, plugins.capacity_concurrency,
                               plugins.capacity_max_vims),
        max_body_size=conf.max_body_size,
        probe_interval=conf.inventory.probe_interval,
    )

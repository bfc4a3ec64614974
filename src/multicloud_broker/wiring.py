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
from multicloud_broker.core.upstream import plugin_bounds
from multicloud_broker.inventory import Inventory, InventoryConfigError, RegionStore
from multicloud_broker.inventory.aai import AaiInventory
from multicloud_broker.inventory.cache import CachedInventory
from multicloud_broker.inventory.postgresql import postgres_inventory
from multicloud_broker.inventory.sqlite import SqliteInventory
from multicloud_broker.inventory.watch import InventoryWatch


# Inventories a fleet shares: their state is told in /healthz, not /readyz
# (core/health.py); SQLite is a file of this replica's own.
SHARED_BACKENDS = ("aai", "postgresql")


def build_inventory(conf: cfg.ConfigOpts, store: RegionStore | None = None) -> Inventory:
    """The configured inventory, with the per-worker cache for A&AI and PostgreSQL;
    `store`: the sqlite or PostgreSQL store to use (one pool, shared with the
    regions API), else a new one."""
    return build_watched_inventory(conf, store)[0]


def build_watched_inventory(conf: cfg.ConfigOpts, store: RegionStore | None = None
                            ) -> tuple[Inventory, InventoryWatch | None]:
    """build_inventory's inventory, and the watch of its state if it is shared."""
    inv = conf.inventory
    # Backend lookups are counted and timed (metrics), inside the cache.
    if inv.backend not in SHARED_BACKENDS:
        return metrics.CountedInventory(store or SqliteInventory(inv.sqlite_path), "sqlite"), None
    # Watched inside the cache too: only lookups that reached the backend tell its state.
    watch = InventoryWatch(metrics.CountedInventory(
        AaiInventory(conf) if inv.backend == "aai" else store or postgres_inventory(conf),
        inv.backend), inv.backend, inv.probe_interval)
    inventory: Inventory = watch
    if inv.cache_ttl > 0:
        inventory = CachedInventory(watch, inv.cache_ttl, inv.stale_ttl, inv.negative_ttl)
    return inventory, watch


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


def forwarder_limits(conf: cfg.ConfigOpts) -> dict[str, int]:
    """The Forwarder's bounds as keyword arguments: connections and queued
    calls per plugin, sized from this worker's request slots (plugin_bounds);
    idle connections kept; body size."""
    connections, waiting = plugin_bounds(conf.wsgi_pool_size,
                                         conf.plugins.max_connections_per_plugin)
    return {"max_connections": connections, "max_waiting": waiting,
            "max_idle": conf.plugins.pool_maxsize, "max_body_size": conf.max_body_size}


def build_broker(conf: cfg.ConfigOpts) -> Broker:
    """A Broker with catalog, inventory and pooled plugin client."""
    plugins = conf.plugins
    metrics.configure(conf.web_framework)
    store = None if conf.inventory.backend == "aai" else build_region_store(conf)
    inventory, watch = build_watched_inventory(conf, store)
    return Broker(
        catalog=PluginCatalog.load(catalog_path(conf)),
        inventory=inventory,
        forwarder=Forwarder(plugins.connect_timeout, plugins.read_timeout,
                            plugins.total_timeout, **forwarder_limits(conf)),
        plugin_base=plugin_base_urls(conf),
        fan_out=CapacityFanOut(plugins.capacity_timeout, plugins.capacity_concurrency,
                               plugins.capacity_max_vims),
        max_body_size=conf.max_body_size,
        probe_interval=conf.inventory.probe_interval,
        regions=build_region_api(conf, store),
        shared=watch,
    )

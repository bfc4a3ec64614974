"""Builds the OpenStack plugin service from the configuration, once per
process, and checks what can be checked before serving."""

from __future__ import annotations

import argparse
from pathlib import Path

from oslo_config import cfg

from multicloud_broker import metrics
from multicloud_broker.config import ConfigError, conf_from_args
from multicloud_broker.core.forwarder import Forwarder
from multicloud_broker.inventory import Inventory
from multicloud_broker.inventory.cache import CachedInventory
from multicloud_broker.inventory.children import region_children
from multicloud_broker.plugin.declarations import (BUILTIN_DIR, DeclarationError, Resource,
                                                   load_declarations)
from multicloud_broker.plugin.openstack.sessions import RegionSessions, Timeouts
from multicloud_broker.plugin.resources import ResourceApi
from multicloud_broker.plugin.service import OpenStackPlugin, swagger_bytes
from multicloud_broker.plugin.swagger import swagger_document
from multicloud_broker.server.preflight import PreflightError
from multicloud_broker.server.preflight import check as broker_checks


def plugin_conf(args: argparse.Namespace) -> cfg.ConfigOpts:
    """The configuration of `openstack-plugin`: the broker's files and
    environment, served on [openstack_plugin]'s address (flags win)."""
    given = vars(args)
    conf = conf_from_args(argparse.Namespace(**{**given, "bind_host": None,
                                                "bind_port": None}))
    group = conf.openstack_plugin
    try:
        conf.set_override("bind_host", given.get("bind_host") or group.bind_host)
        port = given.get("bind_port")
        conf.set_override("bind_port", group.bind_port if port is None else port)
    except ValueError as exc:
        raise ConfigError(f"--bind-host/--bind-port: {exc}") from None
    return conf


def declarations(conf: cfg.ConfigOpts) -> dict[str, Resource]:
    """The built-in declarations, then the operator's directory (if any)."""
    dirs = [BUILTIN_DIR]
    if conf.openstack_plugin.api_definitions_dir:
        dirs.append(Path(conf.openstack_plugin.api_definitions_dir))
    return load_declarations(dirs)


def plugin_checks(conf: cfg.ConfigOpts) -> None:
    """The broker's preflight (TLS, access log, inventory), then the
    declarations: a bad one is one line naming its file and field."""
    broker_checks(conf)
    try:
        declarations(conf)
    except DeclarationError as exc:
        raise PreflightError(f"[openstack_plugin] api_definitions_dir: {exc}") from None


def build_plugin(conf: cfg.ConfigOpts) -> OpenStackPlugin:
    """The plugin service with its inventory, sessions and declarations."""
    from multicloud_broker.wiring import (build_inventory, build_region_store,
                                          forwarder_limits)
    group = conf.openstack_plugin
    metrics.configure(conf.web_framework)
    store = None if conf.inventory.backend == "aai" else build_region_store(conf)
    declared = declarations(conf)
    names = tuple(group.plugin_names)
    return OpenStackPlugin(
        names=names,
        inventory=region_cache(conf, build_inventory(conf, store)),
        sessions=RegionSessions(group.interface, Timeouts(group.connect_timeout,
                                                          group.read_timeout,
                                                          group.total_timeout),
                                group.pool_size),
        resources=ResourceApi(declared, group.page_size, group.max_list_items),
        forwarder=Forwarder(group.connect_timeout, group.read_timeout,
                            conf.plugins.total_timeout, **forwarder_limits(conf)),
        broker_url=group.broker_url,
        swagger=lambda name: swagger_bytes(swagger_document(declared, name)),
        max_body_size=conf.max_body_size,
        children=region_children(conf, store),
    )


def region_cache(conf: cfg.ConfigOpts, inventory: Inventory) -> Inventory:
    """`inventory` behind the broker's per-worker region cache, with the same
    [inventory] options (cache_ttl, stale_ttl, negative_ttl), SQLite included:
    every plugin call needs the record with its credentials, and reading it
    from the file was 7% of a worker's CPU per call (issue 19). A changed
    record is used within cache_ttl; 0 turns the cache off."""
    inv = conf.inventory
    if inv.cache_ttl <= 0 or isinstance(inventory, CachedInventory):
        return inventory  # off, or cached already (A&AI, PostgreSQL)
    return CachedInventory(inventory, inv.cache_ttl, inv.stale_ttl, inv.negative_ttl)


def build_plugin_app(conf: cfg.ConfigOpts):
    """The plugin's WSGI app in `conf.web_framework`."""
    from multicloud_broker.web import service_app
    return service_app(conf.web_framework, build_plugin(conf))

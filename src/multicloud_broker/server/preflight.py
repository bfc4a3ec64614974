"""Everything that can be checked before serving, at start-up and before a reload.

A value that would only fail later (in a worker that then dies at start and is
respawned forever, or in every request) is found here instead, and reported as
one line: the caller exits with status 2 at start-up, or refuses a SIGHUP and
keeps the running workers.
"""

from __future__ import annotations

import errno
import os
from urllib.parse import urlsplit

from oslo_config import cfg

from multicloud_broker.config import ConfigError, catalog_path
from multicloud_broker.core.catalog import CatalogError, PluginCatalog
from multicloud_broker.server.sockets import BindError, check_tls


class PreflightError(Exception):
    """The configuration cannot be served; the message is one line."""


def check(conf: cfg.ConfigOpts) -> None:
    """Raise PreflightError with the first reason `conf` cannot be served."""
    for step in (_catalog, _tls, _access_log, _endpoints, _inventory):
        step(conf)


def _catalog(conf: cfg.ConfigOpts) -> None:
    try:
        PluginCatalog.load(catalog_path(conf))
    except CatalogError as exc:
        raise PreflightError(str(exc)) from None


def _tls(conf: cfg.ConfigOpts) -> None:
    try:
        check_tls(conf)
    except BindError as exc:
        raise PreflightError(str(exc)) from None


def _access_log(conf: cfg.ConfigOpts) -> None:
    """Open the access log as a worker will (append, create): each worker opens
    it at start, and one that cannot would die and be respawned in a loop.
    O_NONBLOCK: a FIFO nobody reads fails here (ENXIO) instead of hanging."""
    path = conf.access_log
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        os.makedirs(directory, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise PreflightError(f"[DEFAULT] access_log: cannot write {path}: "
                             f"{exc.strerror or exc}") from None
    os.close(fd)


def _endpoints(conf: cfg.ConfigOpts) -> None:
    for name, url in sorted(conf.plugins.endpoints.items()):
        _check_url(url, f"[plugins] endpoints: {name}")
    msb = conf.msb
    host = f"[{msb.host}]" if ":" in msb.host else msb.host
    _check_url(f"{msb.protocol}://{host}:{msb.port}", "[msb] protocol/host/port")


def check_url(url: str) -> str | None:
    """Why `url` is not a usable http(s) base URL, or None if it is."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    if parts.query or parts.fragment:
        return "a base URL takes no query or fragment"
    return None


def _check_url(url: str, where: str) -> None:
    reason = check_url(url)
    if reason:
        raise PreflightError(f"{where}: unusable URL {url!r} ({reason})")


def _inventory(conf: cfg.ConfigOpts) -> None:
    """The inventory's own check (file openable, schema there, address sane)."""
    from multicloud_broker import inventory
    from multicloud_broker.wiring import build_inventory
    if conf.inventory.backend == "aai" and conf.aai.ca_file \
            and not os.access(conf.aai.ca_file, os.R_OK):
        raise PreflightError(f"[aai] ca_file: cannot read {conf.aai.ca_file}")
    try:
        store = build_inventory(conf)
    except (ConfigError, ValueError) as exc:
        raise PreflightError(f"[inventory] {exc}") from None
    probe = getattr(store, "check", None)
    if probe is None:
        return
    # InventoryConfigError and its base InventoryError are the inventory's
    # way to say it cannot work; other errors are bugs and keep their traceback.
    failures = tuple(getattr(inventory, name) for name in ("InventoryError",)
                     if hasattr(inventory, name))
    try:
        probe()
    except failures as exc:
        raise PreflightError(f"[inventory] {exc}") from None
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()

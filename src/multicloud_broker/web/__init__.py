"""WSGI apps: the same Broker behind Django or Pecan routing."""

from __future__ import annotations

from collections.abc import Callable

from oslo_config import cfg

from multicloud_broker.core.broker import Broker
from multicloud_broker.wiring import build_broker

WSGIApp = Callable


def build_app(conf: cfg.ConfigOpts, broker: Broker | None = None) -> WSGIApp:
    """The WSGI app of `conf.web_framework`."""
    broker = broker or build_broker(conf)
    if conf.web_framework == "pecan":
        from multicloud_broker.web.pecan.app import make_app
    else:
        from multicloud_broker.web.django.app import make_app
    return make_app(broker)

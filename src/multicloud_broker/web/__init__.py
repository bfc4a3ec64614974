"""WSGI apps: the same Broker behind Django or Pecan routing."""

from __future__ import annotations

from collections.abc import Callable

from oslo_config import cfg

from multicloud_broker.core.broker import Broker
from multicloud_broker.core.service import Service
from multicloud_broker.wiring import build_broker

WSGIApp = Callable


def build_app(conf: cfg.ConfigOpts, broker: Broker | None = None) -> WSGIApp:
    """The broker's WSGI app, in `conf.web_framework`."""
    return service_app(conf.web_framework, broker or build_broker(conf))


def service_app(framework: str, service: Service) -> WSGIApp:
    """Any Service (the broker, the OpenStack plugin) as a WSGI app of `framework`."""
    if framework == "pecan":
        from multicloud_broker.web.pecan.app import make_app
    else:
        from multicloud_broker.web.django.app import make_app
    return make_app(service)

"""Builds the Django WSGI app around a Broker."""

from __future__ import annotations

import logging

import django
from django.conf import settings

from multicloud_broker.core.broker import Broker
from multicloud_broker.web.django import settings as broker_settings
from multicloud_broker.web.django import views


def make_app(broker: Broker):
    """Django's WSGI handler serving `broker`."""
    if not settings.configured:
        settings.configure(**{k: v for k, v in vars(broker_settings).items() if k.isupper()})
        django.setup(set_prefix=False)
        _drop_database_signal_handlers()
        # Django logs every 4xx/5xx; the access log already has each request.
        logging.getLogger("django.request").setLevel(logging.CRITICAL)
    views.BROKER = broker
    from django.core.handlers.wsgi import WSGIHandler
    return WSGIHandler()


def _drop_database_signal_handlers() -> None:
    # Django closes stale database connections around every request; with no
    # database that is pure overhead on the hot path.
    from django.core import signals
    from django.db import close_old_connections, reset_queries
    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

"""Builds the Django WSGI app around a Broker."""

from __future__ import annotations

import logging

import django
from django.conf import settings

from multicloud_broker.core.service import Service
from multicloud_broker.web.django import settings as broker_settings
from multicloud_broker.web.django import views


def make_app(broker: Service):
    """Django's WSGI handler serving `broker` (or any other Service)."""
    if not settings.configured:
        settings.configure(**{k: v for k, v in vars(broker_settings).items() if k.isupper()})
        django.setup(set_prefix=False)
        _drop_request_signal_handlers()
        # Django logs every 4xx/5xx; the access log already has each request.
        logging.getLogger("django.request").setLevel(logging.CRITICAL)
    views.SERVICE = broker
    from django.core.handlers.wsgi import WSGIHandler
    return WSGIHandler()


def _drop_request_signal_handlers() -> None:
    # Django resets databases, caches and per-request URLconfs around every
    # request. The API has no database or cache and never sets a URLconf per
    # request; with no receivers left, Django's signal dispatch returns at once.
    from django.core import signals
    from django.core.cache import close_caches
    from django.core.handlers.base import reset_urlconf
    from django.db import close_old_connections, reset_queries
    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_caches)
    signals.request_finished.disconnect(reset_urlconf)

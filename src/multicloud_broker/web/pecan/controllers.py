"""Pecan controllers: route with core's table, answer with core's Broker."""

from __future__ import annotations

import pecan
import webob

from multicloud_broker.core.broker import Broker
from multicloud_broker.core.http import STATUS_LINES, Response
from multicloud_broker.core.routes import match

ROUTE_KEY = "multicloud.route"
REQUEST_KEY = "multicloud.request"


class RootController:
    """Pecan's entry point; `_lookup` picks the API route for every path.

    (`_lookup` rather than `_route`: Pecan inspects a `_route`'s signature on
    every request, which costs more than the whole rest of the routing.)
    """

    def __init__(self, broker: Broker):
        self.broker = broker

    @pecan.expose()
    def _lookup(self, *remainder):
        environ = pecan.request.environ
        environ[ROUTE_KEY] = match(environ[REQUEST_KEY].path)
        return self.answer, []

    @pecan.expose(content_type="application/json")
    def answer(self):
        environ = pecan.request.environ
        core_request = environ[REQUEST_KEY]
        route, params = environ[ROUTE_KEY] or (None, {})
        return to_webob(self.broker.handle(route, core_request, params))


def to_webob(response: Response) -> webob.Response:
    """core Response -> WebOb response, headers and status untouched."""
    # Passing headerlist and app_iter together keeps WebOb from recomputing
    # Content-Length or adding a Content-Type of its own.
    body = response.body
    return webob.Response(status=STATUS_LINES.get(response.status, f"{response.status} Unknown"),
                          headerlist=list(response.headers), charset=None,
                          app_iter=[body] if isinstance(body, bytes) else body)

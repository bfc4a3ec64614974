"""Pecan controllers: route with core's table, answer with core's Broker."""

from __future__ import annotations

import pecan
import webob

from multicloud_broker.core.http import STATUS_LINES, Response
from multicloud_broker.core.service import Service

REQUEST_KEY = "multicloud.request"


class RootController:
    """Pecan's entry point. Every API path starts with `/api/`, so Pecan's
    object walk maps that first segment to the `api` controller, which
    routes the rest with core's table; any other path ends at `_default`,
    Pecan's catch-all, for core's 404.

    (Not `_route`: Pecan inspects a `_route`'s signature on every request,
    which costs more than the whole rest of the routing. Not `_lookup`: Pecan
    reaches it only after failing the walk, building an HTTPNotFound, and
    then walks the path a second time.)
    """

    def __init__(self, broker: Service):
        self.broker = broker  # the broker, or any other Service (the plugin)

    @pecan.expose(content_type="application/json")
    def api(self, req: webob.Request, resp: webob.Response) -> webob.Response:
        return self._answer(req)

    @pecan.expose(content_type="application/json")
    def _default(self, req: webob.Request, resp: webob.Response) -> webob.Response:
        return self._answer(req)

    def _answer(self, req: webob.Request) -> webob.Response:
        # Pecan runs without context locals (app.py), so it hands the request in.
        core_request = req.environ[REQUEST_KEY]
        route, params = self.broker.match(core_request.path) or (None, {})
        return to_webob(self.broker.handle(route, core_request, params))


def to_webob(response: Response) -> webob.Response:
    """core Response -> WebOb response, headers and status untouched."""
    # Passing headerlist and app_iter together keeps WebOb from recomputing
    # Content-Length or adding a Content-Type of its own.
    body = response.body
    return webob.Response(status=STATUS_LINES.get(response.status, f"{response.status} Unknown"),
                          headerlist=list(response.headers), charset=None,
                          app_iter=[body] if isinstance(body, bytes) else body)

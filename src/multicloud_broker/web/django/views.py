"""Django views: translate to core's Request and back, nothing more."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from multicloud_broker.core.broker import Broker
from multicloud_broker.core.errors import ApiError, BadRequest, NotFound
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.routes import Route

# The Broker of this process; set by app.make_app before any request.
BROKER: Broker | None = None


def route_view(route: Route) -> Callable[..., HttpResponse]:
    """A view answering `route`; URL parameters arrive as keyword arguments."""
    def view(request: HttpRequest, **params: str) -> HttpResponse:
        return to_django(BROKER.handle(route, Request.from_environ(request.META), params))
    view.__name__ = route.action
    return view


def to_django(response: Response) -> HttpResponse:
    """core Response -> Django response, headers and status untouched."""
    if isinstance(response.body, bytes):
        out = HttpResponse(response.body, status=response.status)
    else:
        out = StreamingHttpResponse(response.body, status=response.status)
    del out["Content-Type"]  # only the headers core gives, not Django's default
    for name, value in response.headers:
        out[name] = value
    return out


def _error_view(error: ApiError) -> Callable[..., HttpResponse]:
    def view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        return to_django(Response.error(error))
    return view


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return to_django(BROKER.handle(None, Request.from_environ(request.META), {}))


bad_request = _error_view(BadRequest("bad request"))
server_error = _error_view(ApiError("internal error in the broker"))

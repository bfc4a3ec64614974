"""Django views: translate to core's Request and back, nothing more."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from multicloud_broker.core.broker import Broker
from multicloud_broker.core.errors import ApiError, BadRequest
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


class _ExactHeaders:
    """Django keeps one value per header name; a plugin may repeat one
    (Set-Cookie, Link). Django's WSGI handler reads headers through items(),
    so this hands it core's list as it is, repeats and order included."""

    header_list: list[tuple[str, str]] = []

    def items(self):
        return self.header_list


class ExactHttpResponse(_ExactHeaders, HttpResponse):
    pass


class ExactStreamingHttpResponse(_ExactHeaders, StreamingHttpResponse):
    pass


def to_django(response: Response) -> HttpResponse:
    """core Response -> Django response, headers and status untouched."""
    if isinstance(response.body, bytes):
        out = ExactHttpResponse(response.body, status=response.status)
    else:
        out = ExactStreamingHttpResponse(response.body, status=response.status)
    out.header_list = response.headers
    return out


def _error_view(error: ApiError) -> Callable[..., HttpResponse]:
    def view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        return to_django(Response.error(error))
    return view


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return to_django(BROKER.handle(None, Request.from_environ(request.META), {}))


bad_request = _error_view(BadRequest("bad request"))
server_error = _error_view(ApiError("internal error in the broker"))

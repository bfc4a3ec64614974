"""Django views: translate to core's Request and back, nothing more."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from multicloud_broker.core.errors import ApiError, BadRequest
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.routes import Route
from multicloud_broker.core.service import Service

# The service of this process (the broker or the plugin); set by
# app.make_app before the URLconf is loaded and any request is served.
SERVICE: Service | None = None


def route_view(route: Route) -> Callable[..., HttpResponse]:
    """A view answering `route`; URL parameters arrive as keyword arguments."""
    def view(request: HttpRequest, **params: str) -> HttpResponse:
        return to_django(SERVICE.handle(route, Request.from_environ(request.META), params))
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
    return to_django(SERVICE.handle(None, Request.from_environ(request.META), {}))


bad_request = _error_view(BadRequest("bad request"))
server_error = _error_view(ApiError("internal error"))

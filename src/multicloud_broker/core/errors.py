"""Errors that carry their HTTP status; adapters turn them into JSON bodies."""

from __future__ import annotations

from collections.abc import Iterable


class ApiError(Exception):
    """An error the broker answers itself, as `{"error": message}`."""

    status = 500

    def __init__(self, message: str, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.message = message
        self.headers = list(headers)


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405

    def __init__(self, method: str, allowed: Iterable[str]):
        allow = ", ".join(allowed)
        super().__init__(f"method {method} not allowed here; allowed: {allow}",
                         headers=[("Allow", allow)])


class PayloadTooLarge(ApiError):
    status = 413


class BadGateway(ApiError):
    status = 502


class ServiceUnavailable(ApiError):
    status = 503


class GatewayTimeout(ApiError):
    status = 504

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


class ClientBodyError(BadRequest):
    """The client's request body could not be read: malformed chunked framing
    (400), the client went away mid-upload (`disconnected`), or it sent
    nothing for client_body_timeout (408).

    The server raises it from `wsgi.input`; the server has already logged it
    and will close the connection. Code that reads a body lets it through
    (it is the client's fault, never a plugin's) and must not report it as
    an upstream error.
    """

    def __init__(self, message: str, status: int = 400, disconnected: bool = False):
        super().__init__(message)
        self.status = status
        self.disconnected = disconnected


class ClientGone(BaseException):
    """The client closed its connection while the broker waited for a plugin.

    Raised by the server into the request's green thread. A BaseException,
    like GreenletExit, so that no handler turns it into an answer nobody
    would read: it unwinds the call (whose plugin connection is closed) up
    to the server, which logs it and closes the connection.
    """

"""A few WSGI pieces shared by the simulated services: the request, the
response, the error every handler raises, and a route table compiled once."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

# JSON request bodies larger than this are refused (image data is streamed, not held).
MAX_JSON_BODY = 4 * 1024 * 1024


class ApiError(Exception):
    """An HTTP error; each service renders it in its own error shape.

    `kind` is the service's own name for the error where it has one
    (Neutron's "NetworkNotFound", Heat's "StackExists"); None lets the
    service pick its default for the status."""

    def __init__(self, status: int, message: str, kind: str | None = None,
                 headers: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = list(headers)


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, doc: Any, headers: Iterable[tuple[str, str]] = ()) -> "Response":
        body = json.dumps(doc, separators=(",", ":")).encode()
        return cls(status, body, [("Content-Type", "application/json"), *headers])

    @classmethod
    def empty(cls, status: int, headers: Iterable[tuple[str, str]] = ()) -> "Response":
        return cls(status, b"", list(headers))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


class Request:
    """One request as a service sees it: `path` is relative to the service's
    prefix ("/v2.1/servers"), `root` is the service's absolute URL
    ("http://127.0.0.1:8774/compute")."""

    def __init__(self, environ: dict, path: str, root: str):
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"].upper()
        self.path = path
        self.root = root
        self.query: dict[str, list[str]] = parse_qs(environ.get("QUERY_STRING", ""),
                                                    keep_blank_values=True)
        self.params: dict[str, str] = {}
        self.ctx: Any = None  # the token's AuthContext, set before a protected route runs
        self.microversion: tuple[int, int] | None = None
        self._body: bytes | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if key == "HTTP_CONTENT_TYPE":
            key = "CONTENT_TYPE"
        elif key == "HTTP_CONTENT_LENGTH":
            key = "CONTENT_LENGTH"
        return self.environ.get(key, default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_arg(self, name: str, default: int | None = None, minimum: int = 0) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ApiError(400, f"Invalid value for {name}: {value!r} is not an integer") from None
        if number < minimum:
            raise ApiError(400, f"Invalid value for {name}: must be >= {minimum}")
        return number

    @property
    def input(self):
        return self.environ["wsgi.input"]

    def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        if self._body is None:
            length = self.environ.get("CONTENT_LENGTH") or ""
            if length:
                try:
                    size = int(length)
                except ValueError:
                    raise ApiError(400, "Invalid Content-Length") from None
                if size > limit:
                    raise ApiError(413, "Request body too large")
                self._body = self.input.read(size) if size else b""
            elif self.environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
                self._body = self.input.read(limit + 1)
                if len(self._body) > limit:
                    raise ApiError(413, "Request body too large")
            else:
                self._body = b""
        return self._body

    def json(self, required: bool = True) -> Any:
        raw = self.body()
        if not raw.strip():
            if required:
                raise ApiError(400, "The request body is missing or empty")
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Malformed request body: not JSON") from None

    def json_object(self, key: str | None = None) -> dict:
        doc = self.json()
        if not isinstance(doc, dict):
            raise ApiError(400, "The request body must be a JSON object")
        if key is None:
            return doc
        inner = doc.get(key)
        if not isinstance(inner, dict):
            raise ApiError(400, f"The request body must hold a '{key}' object")
        return inner

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        """An absolute URL under this service's root."""
        url = self.root + path
        if query:
            url += "?" + urlencode(query, doseq=True)
        return url


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: Handler
    public: bool = False     # no token needed (version documents)
    streaming: bool = False  # the handler takes the store's lock itself


class Router:
    """Method + path pattern ("/v2.1/servers/{server_id}") to handler; a
    segment is anything but "/"."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, public: bool = False,
            streaming: bool = False) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, re.compile(f"^{regex}$"), handler, public, streaming))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters; ApiError 404 or 405 otherwise."""
        allowed = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                if route.method == method:
                    return route, found.groupdict()
                allowed.append(route.method)
        if allowed:
            raise ApiError(405, f"The method {method} is not allowed for this resource",
                           headers=[("Allow", ", ".join(sorted(set(allowed))))])
        raise ApiError(404, "The resource could not be found.")


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def quoted(text: str) -> str:
    return quote(text, safe="")


def page(items: list, marker: str | None, limit: int | None,
         key: Callable[[Any], str] = lambda item: item["id"]) -> tuple[list, bool, bool]:
    """The items after `marker` (None: from the start), at most `limit`.

    Returns (page, marker_found, more_after). `items` is already sorted."""
    start = 0
    if marker is not None:
        for index, item in enumerate(items):
            if key(item) == marker:
                start = index + 1
                break
        else:
            return [], False, False
    if limit is None:
        return items[start:], True, False
    chunk = items[start:start + limit]
    return chunk, True, start + limit < len(items)

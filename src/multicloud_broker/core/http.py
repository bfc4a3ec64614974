"""The neutral request and response that core handlers take and give."""

from __future__ import annotations

import json
from urllib.parse import quote
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, BinaryIO

from multicloud_broker.core.errors import ApiError, BadRequest, PayloadTooLarge

JSON = "application/json"
# RFC 9110 token characters: a header name (or method) is exactly one token.
TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
MAX_HEADERS = 100  # header lines in one head, as http.client reads them (431 beyond)
# The environ key under which a server offers Request.watch_client.
WATCH_CLIENT = "multicloud.watch_client"


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


# "404 Not Found" for every code, built once.
STATUS_LINES = {code: f"{code} {_reason(code)}" for code in range(100, 600)}


@dataclass
class Request:
    """What core needs of an HTTP request, built from a WSGI environ."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case name -> value, for lookups
    header_items: list[tuple[str, str]]  # as received: case and repeats kept
    body: BinaryIO | None
    content_length: int | None
    # The path as the client sent it, percent-encoding untouched (`path` is
    # decoded, for routing); what is forwarded to plugins.
    raw_path: str = ""
    # The server's watch on the client connection (None: not offered): calling
    # it arms the watch and returns the function that disarms it.
    watch_client: Callable[[], Callable[[], None]] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> "Request":
        """Read method, path, query, headers and the body stream from WSGI."""
        items = _header_items(environ)
        headers: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        length = environ.get("CONTENT_LENGTH")
        content_length = int(length) if length and length.isdigit() else None
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        return cls(method=environ["REQUEST_METHOD"].upper(), path=path,
                   query=environ.get("QUERY_STRING", ""), headers=headers,
                   header_items=items, body=environ.get("wsgi.input"),
                   content_length=content_length, raw_path=_raw_path(environ, path),
                   watch_client=environ.get(WATCH_CLIENT))

    @property
    def has_body(self) -> bool:
        return bool(self.content_length) or "chunked" in self.headers.get(
            "transfer-encoding", "").lower()

    def read_json(self, limit: int) -> Any:
        """The body parsed as JSON: 413 beyond `limit` bytes, 400 if not JSON."""
        if self.content_length is not None and self.content_length > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
        if self.body is None or not self.has_body:
            raw = b""
        elif self.content_length is not None:
            # Never past CONTENT_LENGTH (PEP 3333): a server may hand over the
            # raw connection, where a longer read waits for the next request.
            raw = self.body.read(self.content_length)
        else:
            raw = self.body.read(limit + 1)  # chunked: the server ends the stream
        if len(raw) > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("request body is not valid JSON") from None
        except RecursionError:  # "[[[[..." a few thousand deep: a 400, not a 500
            raise BadRequest("request body is JSON nested too deeply") from None


def header_block_items(block: bytes) -> list[tuple[str, str]]:
    """Header lines, each ending in CRLF and already checked plain, as the
    (name, value) pairs http.client's parser makes of them: latin-1, the
    value's leading blanks dropped. For the fast paths of the server and
    the plugin client, which skip that parser."""
    return [(name.decode("latin-1"), value.lstrip(b" \t").decode("latin-1"))
            for name, _, value in (line.partition(b":") for line in block.split(b"\r\n")[:-1])]


def _raw_path(environ: Mapping[str, Any], path: str) -> str:
    """The undecoded path: eventlet keeps it in RAW_PATH_INFO, uWSGI and
    most others in REQUEST_URI; else the decoded path encoded again."""
    raw = environ.get("RAW_PATH_INFO")
    if raw is not None:
        return quote(environ.get("SCRIPT_NAME", ""), safe="/") + raw
    uri = environ.get("REQUEST_URI")
    if uri is not None and uri.startswith("/"):
        return uri.split("?", 1)[0]
    return quote(path, safe="/:@!$&'()*+,;=-._~")


def _header_items(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The request's headers; exact when the server keeps them (eventlet does).

    CGI-style keys lose case and repeats, and servers fill CONTENT_TYPE in when
    the client sent none, which would invent a header for the plugin.
    """
    raw = environ.get("headers_raw")
    if raw is not None:
        return list(raw)
    items = [(key[5:].replace("_", "-").title(), value)
             for key, value in environ.items() if key.startswith("HTTP_")]
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            items.append((name, environ[key]))
    return items


@dataclass
class Response:
    """Status, headers and a body of bytes or an iterable of bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | Iterable[bytes] = b""

    @classmethod
    def json(cls, status: int, payload: Any,
             headers: Iterable[tuple[str, str]] = ()) -> "Response":
        data = json.dumps(payload).encode()
        return cls.raw(status, data, JSON, headers)

    @classmethod
    def raw(cls, status: int, data: bytes, content_type: str,
            headers: Iterable[tuple[str, str]] = ()) -> "Response":
        return cls(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(data))), *headers], data)

    @classmethod
    def error(cls, exc: ApiError) -> "Response":
        return cls.json(exc.status, {"error": exc.message}, exc.headers)

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

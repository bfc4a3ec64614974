"""Plain-WSGI building blocks: the request, the error, the handler context."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import parse_qs

from multicloud_broker.fakecloud.store import Doc, Store

READ_CHUNK = 64 * 1024


class HTTPError(Exception):
    """An answer other than success; the app turns it into {"error": message}."""

    def __init__(self, status: int, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> HTTPError:
    return HTTPError(400, message)


def not_found(what: str, rid: str) -> HTTPError:
    return HTTPError(404, f"{what} {rid} not found")


class Request:
    """The parts of a WSGI environ the handlers need."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"].upper()
        self.path: str = environ.get("PATH_INFO", "") or "/"
        self.query: dict[str, str] = {
            k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

    def header(self, name: str) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        return self.environ.get(key) or None

    @property
    def stream(self) -> BinaryIO:
        return self.environ["wsgi.input"]

    @property
    def content_length(self) -> int | None:
        raw = self.environ.get("CONTENT_LENGTH")
        return int(raw) if raw and raw.isdigit() else None

    def read_body(self, limit: int) -> bytes:
        """The whole body, at most `limit` bytes (413 beyond)."""
        length = self.content_length
        if length is not None and length > limit:
            raise HTTPError(413, f"request body over {limit} bytes")
        chunks, size = [], 0
        while True:
            chunk = self.stream.read(READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, f"request body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def json(self, limit: int, optional: bool = False) -> Doc:
        """The body as a JSON object; an empty body is {} when `optional`."""
        raw = self.read_body(limit)
        if not raw.strip():
            if optional:
                return {}
            raise bad_request("request body is empty; a JSON object is required")
        try:
            body = json.loads(raw)
        except ValueError:
            raise bad_request("request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        return body


@dataclass
class Settings:
    """What the operator chose for the simulated cloud (same for every region)."""

    total_vcpus: int = 64
    total_memory_mb: int = 131072
    total_storage_gb: int = 2048
    build_seconds: float = 1.0
    token_lifetime: float = 3600.0
    max_json_body: int = 10 * 1024 * 1024


@dataclass
class Ctx:
    """One request as a handler sees it."""

    req: Request
    store: Store
    settings: Settings
    version: str  # "v0" or "v1"
    plugin: str
    owner: str
    region_id: str
    params: dict[str, str] = field(default_factory=dict)
    project_id: str | None = None  # from the token, when the route needs one

    @property
    def region(self) -> str:
        """The vim id, the key of the region's state for both API versions."""
        return f"{self.owner}_{self.region_id}"

    def base(self, tenant: str | None = None) -> Doc:
        """The VIM identification fields every answer carries."""
        doc: Doc = {"vimId": self.region, "vimName": self.region}
        if self.version == "v1":
            doc["cloud-owner"] = self.owner
            doc["cloud-region-id"] = self.region_id
        if tenant is not None:
            doc["tenantId"] = tenant
        return doc

    def url(self, suffix: str) -> str:
        """An absolute URL to this region's API on this service."""
        env = self.req.environ
        host = env.get("HTTP_HOST") or f"{env.get('SERVER_NAME')}:{env.get('SERVER_PORT')}"
        scope = self.region if self.version == "v0" else f"{self.owner}/{self.region_id}"
        return (f"{env.get('wsgi.url_scheme', 'http')}://{host}/api/{self.plugin}/"
                f"{self.version}/{scope}{suffix}")


Reply = tuple  # (status, body-or-None[, headers])
Handler = Callable[[Ctx], Reply]

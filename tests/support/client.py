"""A small HTTP client for tests, on http.client, that shows exactly what came back."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    """Status, headers (case-insensitive) and the whole body of one answer."""

    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    def allow(self) -> set[str]:
        """The methods named in the Allow header, upper-case."""
        value = self.headers.get("Allow") or ""
        return {m.strip().upper() for m in value.split(",") if m.strip()}

    def __repr__(self) -> str:
        return (f"Reply({self.status}, {dict(self.headers.items())!r}, "
                f"{self.body[:300]!r}{'...' if len(self.body) > 300 else ''})")


def request(base_url: str, method: str, path: str, body: bytes | Iterable[bytes] | None = None,
            headers: dict[str, str] | list[tuple[str, str]] | None = None,
            timeout: float = 20.0, chunked: bool = False) -> Reply:
    """Send one request on a fresh connection and read the whole answer.

    `chunked=True` sends the body with Transfer-Encoding: chunked. If the server
    answers before taking the whole body (e.g. 413) and closes, the answer it
    sent is still read.
    """
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        return send(conn, method, path, body, headers, chunked)
    finally:
        conn.close()


def send(conn: http.client.HTTPConnection, method: str, path: str,
         body: bytes | Iterable[bytes] | None = None,
         headers: dict[str, str] | list[tuple[str, str]] | None = None,
         chunked: bool = False) -> Reply:
    """Send one request on an existing (possibly kept-alive) connection."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {name.lower() for name, _ in items}
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in items:
        conn.putheader(name, value)
    if chunked:
        if "transfer-encoding" not in names:
            conn.putheader("Transfer-Encoding", "chunked")
    elif body is not None and "content-length" not in names:
        conn.putheader("Content-Length", str(len(body)))  # type: ignore[arg-type]
    try:
        conn.endheaders()
        if chunked:
            pieces = [body] if isinstance(body, bytes) else list(body or [])
            for piece in pieces:
                if piece:
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        elif body:
            conn.send(body)  # type: ignore[arg-type]
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early and closed; its answer may still be readable
    response = conn.getresponse()
    data = response.read()
    return Reply(response.status, response.msg, data)

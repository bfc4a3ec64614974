"""Forwarding a request to a plugin and its answer back, bytes unchanged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

import urllib3
from urllib3.util import SKIP_HEADER

from multicloud_broker.core.errors import BadGateway, GatewayTimeout, PayloadTooLarge
from multicloud_broker.core.http import Request, Response

LOG = logging.getLogger(__name__)

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
))
CHUNK = 64 * 1024


def end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers without the hop-by-hop ones, nor any that `Connection` names."""
    named = set()
    for key, value in headers:
        if key.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(","))
    return [(k, v) for k, v in headers
            if k.lower() not in HOP_BY_HOP and k.lower() not in named]


class Forwarder:
    """Pooled, keep-alive HTTP connections per worker, one pool per plugin base URL."""

    def __init__(self, connect_timeout: float, read_timeout: float,
                 pool_maxsize: int, max_body_size: int):
        self._pool_maxsize = pool_maxsize
        self._pools: dict[str, urllib3.HTTPConnectionPool] = {}
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._max_body = max_body_size

    def forward(self, request: Request, base: str, target: str) -> Response:
        """Send request's method, headers and body to base + target (path and
        query); return the plugin's answer."""
        headers = self._upstream_headers(request)
        body = None
        if request.has_body and request.body is not None:
            body = _limited(request.body, request.content_length, self._max_body)
        url = base + target
        try:
            upstream = self._pool(base).urlopen(
                request.method, target, body=body, headers=headers,
                chunked=request.content_length is None and body is not None,
                preload_content=False, decode_content=False, redirect=False,
                assert_same_host=False, timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise _fault(exc, url) from None
        headers = end_to_end(list(upstream.headers.items()))
        if request.method == "HEAD":
            upstream.release_conn()
            return Response(upstream.status, headers, b"")
        return Response(upstream.status, headers, _stream(upstream, url))

    def _pool(self, base: str) -> urllib3.HTTPConnectionPool:
        # Made once per base URL (plugins are few) and kept: a PoolManager
        # would parse the URL again on every request, and could evict a pool.
        pool = self._pools.get(base)
        if pool is None:
            pool = self._pools[base] = urllib3.connection_from_url(
                base, maxsize=self._pool_maxsize, retries=False)
        return pool

    @staticmethod
    def _upstream_headers(request: Request) -> urllib3.HTTPHeaderDict:
        """The client's headers, minus hop-by-hop and Host, plus the transaction id."""
        headers = urllib3.HTTPHeaderDict()
        for name, value in end_to_end(request.header_items):
            if name.lower() != "host":
                headers.add(name, value)
        if "x-transactionid" not in headers:
            headers["X-TransactionID"] = request.headers["x-transactionid"]
        # urllib3 would otherwise add these; the plugin must see only the client's.
        for name in ("User-Agent", "Accept-Encoding"):
            if name not in headers:
                headers[name] = SKIP_HEADER
        return headers

    def post_json(self, base: str, target: str, body: bytes, headers: dict,
                  timeout: float) -> urllib3.BaseHTTPResponse:
        """A small JSON POST to base + target (capacity checks); urllib3 errors propagate."""
        return self._pool(base).urlopen(
            "POST", target, body=body, headers=headers, redirect=False,
            assert_same_host=False,
            timeout=urllib3.Timeout(connect=min(timeout, self._timeout.connect_timeout),
                                    read=timeout))


def _fault(exc: urllib3.exceptions.HTTPError, url: str) -> BadGateway | GatewayTimeout:
    """The error to answer for a plugin that could not be asked."""
    LOG.warning("plugin fault at %s: %s", url, exc)
    # NewConnectionError (refused, no route) derives from ConnectTimeoutError
    # in urllib3: test it first, it is a 502, not a timeout.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return BadGateway(f"plugin unreachable ({url}): {_reason(exc)}")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return GatewayTimeout(f"plugin did not answer in time ({url})")
    return BadGateway(f"plugin unreachable ({url}): {_reason(exc)}")


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    return type(reason).__name__


def _limited(stream: BinaryIO, length: int | None, limit: int) -> Iterator[bytes]:
    """The body in chunks; PayloadTooLarge once more than `limit` bytes came
    (a declared length over the limit is refused earlier, in Broker.handle)."""
    def chunks() -> Iterator[bytes]:
        sent = 0
        remaining = length
        while remaining is None or remaining > 0:
            size = CHUNK if remaining is None else min(CHUNK, remaining)
            data = stream.read(size)
            if not data:
                return
            sent += len(data)
            if sent > limit:
                raise PayloadTooLarge(f"request body over {limit} bytes")
            if remaining is not None:
                remaining -= len(data)
            yield data
    return chunks()


def _stream(upstream: urllib3.BaseHTTPResponse, url: str) -> Iterator[bytes]:
    """The plugin's body as it comes; the connection goes back to the pool."""
    try:
        yield from upstream.stream(CHUNK, decode_content=False)
    except urllib3.exceptions.HTTPError as exc:
        # Status and headers are already sent: all we can do is cut the body.
        LOG.warning("plugin body from %s cut short: %s", url, exc)
    finally:
        upstream.release_conn()

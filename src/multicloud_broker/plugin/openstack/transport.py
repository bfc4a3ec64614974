"""The data path of the plugin's calls to a cloud's services (Nova, Neutron,
Glance, Cinder, Heat): urllib3 connection pools, kept alive per endpoint.

keystoneauth still does everything identity: authentication, the token and
its renewal, the catalog (RegionSession). Only the service call itself is
sent here, because keystoneauth's Session.request through requests was most
of the plugin's CPU per call: py-spy on a worker listing networks showed 45%
of its busy time in that call (keystoneauth's own request building and
logging, requests' environment merge and proxy lookups per call) and 10%
more finding the endpoint in the catalog each time.

What requests took from the environment is kept, resolved once per
endpoint instead of per call: HTTP(S)_PROXY and NO_PROXY, and
REQUESTS_CA_BUNDLE (or certifi's bundle) as the CAs when a region's record
names none, so identity and service calls trust the same certificates.

Per call, only what must be (issue 19: the plugin's CPU per call no more
than the broker's): the connection pool of an endpoint is found by its
origin in a dict of ours, not by parsing the URL and normalising a pool key
as PoolManager.urlopen does each time; an answer's head is read as the
broker's forwarder reads its plugins' (core/upstream.py), without the email
parser http.client uses, unless it is anything but plain.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests.utils
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from multicloud_broker.core.upstream import take_plain_head

Verify = bool | str  # keystoneauth's meaning: False, True (default CAs), or a CA file


class CloudAnswer:
    """A service's answer, read whole: what the plugin's callers use of
    requests' Response (status_code, headers, content, text, json())."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: Any, content: bytes):
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError if it is not."""
        return json.loads(self.content)

    def json_object(self) -> dict:
        """The body if it is a JSON object, else {} (for callers that read
        fields and treat a missing one and a broken body alike)."""
        try:
            doc = self.json()
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}


class _Answer(http.client.HTTPResponse):
    """http.client's answer whose head, when plain, skips the email parser."""

    def begin(self) -> None:
        if self.headers is None and not take_plain_head(self, self._method):
            super().begin()


class _Connection(HTTPConnection):
    response_class = _Answer

    @property
    def is_connected(self) -> bool:
        """urllib3's test of an idle connection before reuse (open, nothing
        unread), by one non-blocking peek instead of a select through the
        green hub (3% of a call). Plain sockets only: TLS cannot peek."""
        sock = self.sock
        if sock is None:
            return False
        timeout = sock.gettimeout()
        try:
            sock.settimeout(0)
            sock.recv(1, socket.MSG_PEEK)  # b"": closed; bytes: an answer no one asked for
            return False
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            sock.settimeout(timeout)


class _TlsConnection(HTTPSConnection):
    response_class = _Answer


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


POOL_CLASSES = {"http": _Pool, "https": _TlsPool}
# What retries=False, redirect=False means to urllib3, made once (it makes
# and logs a new one per call otherwise).
NO_RETRIES = urllib3.Retry(False, redirect=False)
# Endpoint pools kept per worker (a region has a handful of services).
MAX_POOLS = 1000


class Transport:
    """Pool managers of one worker, one per (proxy, TLS settings): every
    region with the same settings shares kept-alive connections."""

    def __init__(self, pool_size: int, user_agent: str):
        self.pool_size = pool_size
        self.user_agent = user_agent
        self._managers: dict[tuple, urllib3.PoolManager] = {}
        self._proxies: dict[tuple[str, str], str | None] = {}
        # (origin, verify) -> the endpoint's pool, for calls without a proxy.
        self._pools: dict[tuple[str, Verify], urllib3.HTTPConnectionPool] = {}
        self._timeouts: dict[tuple[float, float], urllib3.Timeout] = {}
        self._lock = threading.Lock()

    def open(self, method: str, url: str, token: str, verify: Verify,
             timeouts: tuple[float, float], body: bytes | None = None,
             headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        """Send one request; the answer with its body still unread. Raises
        urllib3's errors (no retries, no redirects followed)."""
        sent = {"User-Agent": self.user_agent, "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate", "X-Auth-Token": token}
        if body is not None and not (headers and "Content-Type" in headers):
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        timeout = self._timeouts.get(timeouts)
        if timeout is None:
            timeout = self._timeouts[timeouts] = urllib3.Timeout(connect=timeouts[0],
                                                                 read=timeouts[1])
        options = dict(body=body, headers=sent, retries=NO_RETRIES, redirect=False,
                       preload_content=False, timeout=timeout)
        origin, target = _split(url)
        pool = self._pools.get((origin, verify))
        if pool is None:
            manager = self._manager(url, verify)
            if self._proxy_for(url) is not None:  # the proxy's way (absolute URLs, CONNECT)
                return manager.urlopen(method, url, **options)
            pool = self._pool(origin, verify, manager)
        return pool.urlopen(method, target, assert_same_host=False, **options)

    def _pool(self, origin: str, verify: Verify,
              manager: urllib3.PoolManager) -> urllib3.HTTPConnectionPool:
        """The endpoint's own pool, made as the manager makes one but kept
        here: the manager may drop (and close) it to make room."""
        with self._lock:
            pool = self._pools.get((origin, verify))
            if pool is None:
                if len(self._pools) >= MAX_POOLS:
                    for old in self._pools.values():
                        old.close()  # their connections in use close when returned
                    self._pools.clear()
                parts = urllib3.util.parse_url(origin)
                pool = self._pools[(origin, verify)] = manager._new_pool(
                    parts.scheme, parts.host, parts.port or (443 if parts.scheme == "https"
                                                             else 80))
        return pool

    def _manager(self, url: str, verify: Verify) -> urllib3.PoolManager:
        proxy = self._proxy_for(url)
        key = (proxy, verify)
        manager = self._managers.get(key)
        if manager is None:
            with self._lock:
                manager = self._managers.get(key)
                if manager is None:
                    manager = self._managers[key] = self._new_manager(proxy, verify)
        return manager

    def _new_manager(self, proxy: str | None, verify: Verify) -> urllib3.PoolManager:
        tls: dict[str, Any] = ({"cert_reqs": "CERT_NONE"} if verify is False else
                               {"cert_reqs": "CERT_REQUIRED",
                                "ca_certs": verify if isinstance(verify, str) else default_cas()})
        # block=False: past pool_size, a call opens a connection of its own
        # that is closed after it, rather than waiting for a pooled one.
        options = dict(num_pools=100, maxsize=self.pool_size, block=False, **tls)
        manager = (urllib3.ProxyManager(proxy, **options) if proxy else
                   urllib3.PoolManager(**options))
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

    def _proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for this scheme and host (None:
        direct), as requests decides it, once per endpoint."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._proxies:
            base = f"{parts.scheme}://{parts.netloc}"
            self._proxies[key] = requests.utils.select_proxy(
                base, requests.utils.get_environ_proxies(base))
        return self._proxies[key]


def _split(url: str) -> tuple[str, str]:
    """(scheme://host:port, /path?query) of an absolute URL."""
    slash = url.find("/", url.find("://") + 3)
    return (url, "/") if slash < 0 else (url[:slash], url[slash:])


def default_cas() -> str:
    """The CA file requests (and so keystoneauth) uses when told to verify
    without one: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's."""
    return (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            or certifi.where())

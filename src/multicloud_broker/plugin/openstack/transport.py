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
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests.utils
import urllib3

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


class Transport:
    """Pool managers of one worker, one per (proxy, TLS settings): every
    region with the same settings shares kept-alive connections."""

    def __init__(self, pool_size: int, user_agent: str):
        self.pool_size = pool_size
        self.user_agent = user_agent
        self._managers: dict[tuple, urllib3.PoolManager] = {}
        self._proxies: dict[tuple[str, str], str | None] = {}
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
        manager = self._manager(url, verify)
        return manager.urlopen(method, url, body=body, headers=sent, retries=False,
                               redirect=False, preload_content=False,
                               timeout=urllib3.Timeout(connect=timeouts[0], read=timeouts[1]))

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
        if proxy:
            return urllib3.ProxyManager(proxy, **options)
        return urllib3.PoolManager(**options)

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


def default_cas() -> str:
    """The CA file requests (and so keystoneauth) uses when told to verify
    without one: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's."""
    return (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            or certifi.where())

"""ONAP A&AI as the inventory, over a pooled HTTP(S) client.

A lookup is the cloud-region (depth 0: its own attributes) and, when it is
found, its `esr-system-info-list` (the cloud's access: inventory/esr.py), as
ONAP's plugins read them. Two small GETs rather than one `depth=1` or
`depth=all`: those also return every tenant, flavor, image and availability
zone that plugins register under the region (depth=all: their vservers too),
hundreds of kilobytes for a busy cloud. Both answers are cached together
(cache.py), so a region costs two GETs per `cache_ttl`, not per request.
"""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import quote

import urllib3

from multicloud_broker.inventory import (ESR_LIST, CloudAccess, CloudRegion,
                                         InventoryConfigError, InventoryRefused,
                                         InventoryUnreachable, LogThrottle, RegionNotFound,
                                         usable_region)
from multicloud_broker.inventory.esr import AccessError, access_from

LOG = logging.getLogger(__name__)


class _AaiClient:
    """A&AI's address, credentials, TLS and timeouts from [aai], and a pool."""

    def __init__(self, conf, pool_size: int = 20):
        aai = conf.aai
        self._aai = aai
        self._root = (f"{aai.protocol}://{aai.host}:{aai.port}/aai/{aai.schema_version}"
                      "/cloud-infrastructure")
        self._headers = urllib3.make_headers(basic_auth=f"{aai.username}:{aai.password}")
        self._headers.update({"X-FromAppId": aai.app_id, "Accept": "application/json"})
        tls = {}
        if aai.protocol == "https":
            tls = {"cert_reqs": "CERT_REQUIRED" if aai.verify_tls else "CERT_NONE"}
            if aai.ca_file:
                tls["ca_certs"] = aai.ca_file
        self._http = urllib3.PoolManager(maxsize=pool_size, retries=False, **tls)
        self._timeout = urllib3.Timeout(connect=aai.connect_timeout, read=aai.read_timeout)


class AaiInventory(_AaiClient):
    """Looks regions up at `/aai/{schema}/cloud-infrastructure/cloud-regions/...`."""

    def __init__(self, conf):
        # One lookup per region in flight (cache.py), so a small pool suffices.
        super().__init__(conf)
        self._base = self._root + "/cloud-regions/cloud-region"
        self._log = LogThrottle()  # one line a minute per region with unusable access

    def check(self) -> None:
        """A&AI's address must be well-formed; it is not contacted (it may be
        down at start, and the broker rides that out)."""
        aai = self._aai
        host = (aai.host or "").strip()
        if not host or any(c in host for c in "/?#@ "):
            raise InventoryConfigError(f"[aai] host {aai.host!r} is not a host name or address")
        if not isinstance(aai.port, int) or not 0 < aai.port < 65536:
            raise InventoryConfigError(f"[aai] port {aai.port!r} is out of range (1-65535)")
        if not aai.schema_version or "/" in aai.schema_version:
            raise InventoryConfigError(
                f"[aai] schema_version {aai.schema_version!r} is not a version like v13")
        if aai.protocol == "https" and aai.ca_file and not os.access(aai.ca_file, os.R_OK):
            raise InventoryConfigError(f"[aai] cannot read ca_file {aai.ca_file}")

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        url = f"{self._base}/{quote(owner, safe='')}/{quote(region, safe='')}"
        headers = dict(self._headers, **{"X-TransactionId": transaction_id})
        doc = _document(self._ask(url, headers), owner, region)
        if doc is None:
            raise RegionNotFound(owner, region)
        found = usable_region(owner, region, doc.get("cloud-type"),
                              doc.get("cloud-region-version"))  # unusable: no second GET
        if ESR_LIST not in doc:  # A&AI answers depth 0 without it: ask for it
            esr = _document(self._ask(f"{url}/{ESR_LIST}", headers), owner, region)
            doc = dict(doc, **{ESR_LIST: esr}) if esr is not None else doc
        # extra: A&AI's record, its esr-system-info-list included (CloudRegion
        # drops the passwords from it); the access, parsed.
        return CloudRegion(owner, region, found.cloud_type, found.cloud_region_version,
                           extra=doc, access=self._access(doc, owner, region))

    def _ask(self, url: str, headers: dict) -> urllib3.BaseHTTPResponse | None:
        """A&AI's 200 answer; None for a 404; the broker's error for anything else."""
        try:
            resp = self._http.request("GET", url, headers=headers, timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            # Logged by the cache, once per interval, not here once per request.
            raise InventoryUnreachable(
                f"inventory (A&AI) unreachable: {type(exc).__name__}") from None
        if resp.status == 404:
            return None
        if resp.status in (401, 403):
            raise InventoryRefused(
                f"inventory (A&AI) refused the broker's credentials ({resp.status}): "
                "check [aai] username and password")
        if resp.status != 200:
            raise InventoryUnreachable(f"inventory (A&AI) answered {resp.status}")
        return resp

    def _access(self, doc: dict, owner: str, region: str) -> CloudAccess | None:
        """The region's access; None, with a warning, when A&AI's is unusable:
        the region is still routed (plugins read A&AI themselves)."""
        try:
            return access_from(doc, region)
        except AccessError as exc:
            if self._log.allow((owner, region)):
                LOG.warning("cloud region %s/%s: its access in A&AI is unusable (%s): "
                            "serving it without", owner, region, exc.message)
            return None


def _document(resp: urllib3.BaseHTTPResponse | None, owner: str, region: str) -> dict | None:
    if resp is None:
        return None
    try:
        doc = json.loads(resp.data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        # Not A&AI's JSON at all (a proxy's error page...): an inventory fault.
        raise InventoryUnreachable(
            f"inventory (A&AI) sent an unreadable answer for {owner}/{region}")
    return doc


class AaiObjects(_AaiClient):
    """A&AI's REST for single objects below /cloud-infrastructure/ (a region's
    children, pservers), for the OpenStack plugin's writes: the reader's
    credentials, X-FromAppId, TLS and timeouts, and the caller's
    X-TransactionId. A&AI wants the object's current resource-version on a
    PUT that replaces it (in the body) and on a DELETE (in the query): the
    caller GETs the object first and passes it on."""

    def get(self, path: str, transaction_id: str, query: str = "") -> dict | None:
        """The object, or None if A&AI has none at `path`."""
        resp = self._send("GET", path, transaction_id, query=query)
        if resp.status == 404:
            return None
        self._check(resp, "GET", path)
        try:
            doc = json.loads(resp.data)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise InventoryUnreachable(f"inventory (A&AI) sent an unreadable answer for {path}")
        return doc

    def put(self, path: str, doc: dict, transaction_id: str) -> None:
        """Create or replace the object (`doc` carries the resource-version
        it replaces, none for a new one)."""
        resp = self._send("PUT", path, transaction_id, body=json.dumps(doc).encode())
        self._check(resp, "PUT", path)

    def delete(self, path: str, resource_version: str, transaction_id: str) -> bool:
        """Delete the object at that resource-version; False if it was gone."""
        resp = self._send("DELETE", path, transaction_id,
                          query="resource-version=" + quote(resource_version, safe=""))
        if resp.status == 404:
            return False
        self._check(resp, "DELETE", path)
        return True

    def _send(self, method: str, path: str, transaction_id: str, query: str = "",
              body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        headers = dict(self._headers, **{"X-TransactionId": transaction_id})
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = f"{self._root}/{path}" + (f"?{query}" if query else "")
        try:
            return self._http.request(method, url, headers=headers, body=body,
                                      timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise InventoryUnreachable(
                f"inventory (A&AI) unreachable: {type(exc).__name__}") from None

    @staticmethod
    def _check(resp: urllib3.BaseHTTPResponse, method: str, path: str) -> None:
        if resp.status < 300:
            return
        if resp.status in (401, 403):
            raise InventoryRefused(
                f"inventory (A&AI) refused the plugin's credentials ({resp.status}) on "
                f"{method} {path}: check [aai] username and password")
        raise InventoryUnreachable(f"inventory (A&AI) answered {resp.status} to {method} "
                                   f"{path}: {_error_text(resp)}")


def _error_text(resp: urllib3.BaseHTTPResponse) -> str:
    """A&AI's own words from its requestError body, short."""
    try:
        error = json.loads(resp.data)["requestError"]
        exception = next(iter(error.values()))
        text = str(exception.get("text", ""))
        for i, variable in enumerate(exception.get("variables") or [], 1):
            text = text.replace(f"%{i}", str(variable))
        return " ".join(text.split())[:300]
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration):
        return " ".join(resp.data[:200].decode("utf-8", "replace").split())

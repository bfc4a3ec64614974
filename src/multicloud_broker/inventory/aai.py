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


class AaiInventory:
    """Looks regions up at `/aai/{schema}/cloud-infrastructure/cloud-regions/...`."""

    def __init__(self, conf):
        aai = conf.aai
        self._aai = aai
        self._base = (f"{aai.protocol}://{aai.host}:{aai.port}/aai/{aai.schema_version}"
                      "/cloud-infrastructure/cloud-regions/cloud-region")
        self._headers = urllib3.make_headers(basic_auth=f"{aai.username}:{aai.password}")
        self._headers.update({"X-FromAppId": aai.app_id, "Accept": "application/json"})
        tls = {}
        if aai.protocol == "https":
            tls = {"cert_reqs": "CERT_REQUIRED" if aai.verify_tls else "CERT_NONE"}
            if aai.ca_file:
                tls["ca_certs"] = aai.ca_file
        # One lookup per region in flight (cache.py), so a small pool suffices.
        self._http = urllib3.PoolManager(maxsize=20, retries=False, **tls)
        self._timeout = urllib3.Timeout(connect=aai.connect_timeout, read=aai.read_timeout)
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

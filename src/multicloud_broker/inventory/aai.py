"""ONAP A&AI as the inventory, over a pooled HTTP(S) client."""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import quote

import urllib3

from multicloud_broker.inventory import (CloudRegion, InventoryConfigError, InventoryRefused,
                                         InventoryUnreachable, RegionNotFound, usable_region)

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
        try:
            resp = self._http.request("GET", url, headers=headers, timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            # Logged by the cache, once per interval, not here once per request.
            raise InventoryUnreachable(
                f"inventory (A&AI) unreachable: {type(exc).__name__}") from None
        if resp.status == 404:
            raise RegionNotFound(owner, region)
        if resp.status in (401, 403):
            raise InventoryRefused(
                f"inventory (A&AI) refused the broker's credentials ({resp.status}): "
                "check [aai] username and password")
        if resp.status != 200:
            raise InventoryUnreachable(f"inventory (A&AI) answered {resp.status}")
        return _region_from(resp.data, owner, region)


def _region_from(data: bytes, owner: str, region: str) -> CloudRegion:
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        # Not A&AI's JSON at all (a proxy's error page...): an inventory fault.
        raise InventoryUnreachable(
            f"inventory (A&AI) sent an unreadable answer for {owner}/{region}")
    return usable_region(owner, region, doc.get("cloud-type"),
                         doc.get("cloud-region-version"), extra=doc)

"""ONAP A&AI as the inventory, over a pooled HTTP(S) client."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import urllib3

from multicloud_broker.core.errors import BadGateway, ServiceUnavailable
from multicloud_broker.inventory import CloudRegion, RegionNotFound

LOG = logging.getLogger(__name__)


class AaiInventory:
    """Looks regions up at `/aai/{schema}/cloud-infrastructure/cloud-regions/...`."""

    def __init__(self, conf):
        aai = conf.aai
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

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        url = f"{self._base}/{quote(owner, safe='')}/{quote(region, safe='')}"
        headers = dict(self._headers, **{"X-TransactionId": transaction_id})
        try:
            resp = self._http.request("GET", url, headers=headers, timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            LOG.warning("A&AI unreachable at %s: %s", url, exc)
            raise ServiceUnavailable(f"inventory (A&AI) unreachable: {type(exc).__name__}") from None
        if resp.status == 404:
            raise RegionNotFound(owner, region)
        if resp.status != 200:
            raise ServiceUnavailable(f"inventory (A&AI) answered {resp.status}")
        return _region_from(resp.data, owner, region)


def _region_from(data: bytes, owner: str, region: str) -> CloudRegion:
    try:
        doc = json.loads(data)
        return CloudRegion(owner, region, str(doc["cloud-type"]),
                           str(doc.get("cloud-region-version", "")), extra=doc)
    except (ValueError, KeyError, TypeError):
        raise BadGateway(f"inventory (A&AI) sent an unusable record for {owner}/{region}") from None

"""registry: what a cloud region holds, discovered from its cloud and
recorded in the inventory, as ONAP's plugin registers a region in A&AI.

`POST .../registry` reads, in this order: Keystone's projects (tenants),
Nova's flavors with their extra specs (HPA capabilities, plugin/hpa.py, for
flavors named `onap.*` as ONAP's plugin does), Glance's images, Nova's
availability zones (but `internal`) and hypervisors (pservers, named
`{vimid}_{hypervisor_hostname}`, related to the region and their zone). Only
once everything is read is anything written: a cloud service that fails
half-way (502/503/504 naming it) leaves the region's record as it was. The
write replaces the region's discovered children (inventory/children.py):
what the cloud no longer has is removed, vservers written by heatbridge are
kept. Ids are stable, so a second run changes nothing.

ONAP's plugin answers the POST 202 and registers in a background thread;
here the work is done before the answer (a region is a few dozen calls),
which is still 202, with what was recorded: the caller learns of a failure
instead of polling for it. `GET .../registry` answers what is recorded (404
if nothing is); `DELETE .../{vimid}` (and v1's `.../{owner}/{region}`)
removes every recorded child, 204. The region record itself stays: it is
ESR's (or the broker's regions API's) to remove, where ONAP's plugin deleted
it from A&AI too.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, urlencode

from multicloud_broker.core.errors import BadGateway, NotFound
from multicloud_broker.core.http import Response
from multicloud_broker.core.vimid import make_vim_id
from multicloud_broker.inventory import CloudRegion
from multicloud_broker.inventory.children import RegionChildren, depth, key, nest
from multicloud_broker.plugin import hpa
from multicloud_broker.plugin.openstack.sessions import RegionSession

LOG = logging.getLogger(__name__)
PAGE = 1000  # Nova's and Glance's largest page
MAX_PAGES = 100
DISCOVERED = ("tenants", "flavors", "images", "availability-zones", "pservers")
HIDDEN_ZONE = "internal"  # Nova's zone of its control services: no place for a VM


class Registry:
    """Discovery of regions, recorded in `children`; `schema` is A&AI's
    schema version, for the related-links of relationships."""

    def __init__(self, children: RegionChildren, schema: str):
        self.children = children
        self.schema = schema

    def register(self, session: RegionSession, transaction_id: str) -> Response:
        region = session.region
        docs = discover(session, region, self.schema)
        self.children.write(region.cloud_owner, region.cloud_region_id, docs, discovered,
                            transaction_id)
        LOG.info("cloud region %s registered: %d objects recorded", session.name, len(docs))
        return Response.json(202, _answer(region, docs, "Registration finished"))

    def show(self, region: CloudRegion, transaction_id: str) -> Response:
        docs = self.children.read(region.cloud_owner, region.cloud_region_id, transaction_id)
        if not docs:
            raise NotFound(f"cloud region {region.cloud_owner}/{region.cloud_region_id} "
                           "is not registered: nothing is recorded under it")
        return Response.json(200, _answer(region, docs, "Registered"))

    def unregister(self, region: CloudRegion, transaction_id: str) -> Response:
        removed = self.children.remove(region.cloud_owner, region.cloud_region_id,
                                       lambda k: True, transaction_id)
        LOG.info("cloud region %s/%s unregistered: %d objects removed", region.cloud_owner,
                 region.cloud_region_id, removed)
        return Response(204, [])


def discovered(child_key: str) -> bool:
    """Whether a recorded child is registry's to replace: the region's
    tenants, flavors (and their capabilities), images, zones and pservers,
    not what heatbridge recorded below a tenant."""
    top = child_key.split("/", 1)[0]
    return top in DISCOVERED and (depth(child_key) == 2 or top == "flavors")


def _answer(region: CloudRegion, docs: dict[str, dict], what: str) -> dict:
    vimid = make_vim_id(region.cloud_owner, region.cloud_region_id)
    return nest(docs, {"status": [0, f"{what} for Cloud Region: {vimid}"], "vimId": vimid,
                       "cloud-owner": region.cloud_owner,
                       "cloud-region-id": region.cloud_region_id})


# Discovery ---------------------------------------------------------------------


def discover(session: RegionSession, region: CloudRegion, schema: str) -> dict[str, dict]:
    """Every child of the region, read from its cloud, by key."""
    docs = _tenants(session)
    docs.update(_flavors(session, region))
    docs.update(_images(session))
    docs.update(_zones_and_hosts(session, region, schema))
    return docs


def _tenants(session: RegionSession) -> dict[str, dict]:
    # All projects for an admin; a user who may not list them has its own.
    answer = session.identity("GET", "/projects")
    if answer.status_code == 403:
        answer = session.identity("GET", "/auth/projects")
    projects = _json(session, "identity", answer).get("projects")
    if not isinstance(projects, list):
        raise BadGateway(f"cloud region {session.name}: identity answered no project list")
    return {key("tenants", "tenant", p["id"]): {"tenant-id": p["id"],
                                                "tenant-name": p.get("name") or ""}
            for p in projects if isinstance(p, dict) and isinstance(p.get("id"), str)}


def _flavors(session: RegionSession, region: CloudRegion) -> dict[str, dict]:
    docs = {}
    scope = f"{region.cloud_owner}/{region.cloud_region_id}"
    extra_info = _extra_info(region)
    for flavor in _pages(session, "compute", "/flavors/detail", "flavors"):
        flavor_key = key("flavors", "flavor", flavor["id"])
        docs[flavor_key] = _flavor_doc(flavor)
        if not str(flavor.get("name", "")).startswith("onap."):
            continue  # as ONAP's plugin: HPA flavors are named onap.*
        specs = flavor.get("extra_specs")
        if not isinstance(specs, dict):  # before Nova 2.61 they are a call of their own
            path = f"/flavors/{quote(str(flavor['id']), safe='')}/os-extra_specs"
            specs = _get(session, "compute", path).get("extra_specs") or {}
        for capability in hpa.capabilities(scope, flavor, specs, extra_info):
            docs[flavor_key + "/" + key("hpa-capabilities", "hpa-capability",
                                        capability["hpa-capability-id"])] = capability
    return docs


def _flavor_doc(flavor: dict) -> dict:
    links = flavor.get("links") or []
    selflink = next((link.get("href") for link in links
                     if isinstance(link, dict) and link.get("rel") == "self"), None)
    return _present({
        "flavor-id": flavor["id"], "flavor-name": flavor.get("name"),
        "flavor-vcpus": flavor.get("vcpus"), "flavor-ram": flavor.get("ram"),
        "flavor-disk": flavor.get("disk"),
        "flavor-ephemeral": flavor.get("OS-FLV-EXT-DATA:ephemeral"),
        "flavor-swap": str(flavor.get("swap") or 0),
        "flavor-is-public": flavor.get("os-flavor-access:is_public"),
        "flavor-disabled": flavor.get("OS-FLV-DISABLED:disabled"),
        "flavor-selflink": selflink or "http://0.0.0.0"})


def _images(session: RegionSession) -> dict[str, dict]:
    return {key("images", "image", image["id"]): _present({
        "image-id": image["id"], "image-name": image.get("name") or "",
        "image-selflink": image.get("self"),
        "image-os-distro": image.get("os_distro") or "Unknown",
        "image-os-version": image.get("os_version") or "Unknown",
        "application": image.get("application"),
        "application-vendor": image.get("application_vendor"),
        "application-version": image.get("application_version"),
        "image-architecture": image.get("architecture")})
        for image in _pages(session, "image", "/v2/images", "images")}


def _zones_and_hosts(session: RegionSession, region: CloudRegion,
                     schema: str) -> dict[str, dict]:
    """Availability zones and hypervisors (pservers), related to each other
    and the pservers to the region; none of either if the region's user may
    not read them (Nova's 403)."""
    owner, region_id = region.cloud_owner, region.cloud_region_id
    vimid = make_vim_id(owner, region_id)
    zones = _optional(session, "/os-availability-zone/detail", "availabilityZoneInfo")
    hypervisors = _optional(session, "/os-hypervisors/detail", "hypervisors")
    zone_of = {host: zone["zoneName"] for zone in zones if zone.get("zoneName") != HIDDEN_ZONE
               for host in (zone.get("hosts") or {})}
    docs: dict[str, dict] = {}
    region_link = f"/aai/{schema}/cloud-infrastructure/cloud-regions/cloud-region/" \
                  + key(owner, region_id)
    pservers_of: dict[str, list[str]] = {}
    for hv in hypervisors:
        host = _host_of(hv)
        name = f"{vimid}_{hv.get('hypervisor_hostname') or host}"
        relations = [_relation("cloud-region", region_link,
                               [("cloud-region.cloud-owner", owner),
                                ("cloud-region.cloud-region-id", region_id)])]
        zone = zone_of.get(host)
        if zone:
            pservers_of.setdefault(zone, []).append(name)
            relations.append(_relation(
                "availability-zone", f"{region_link}/availability-zones/availability-zone/"
                + quote(zone, safe=""), [("availability-zone.availability-zone-name", zone)]))
        docs[key("pservers", "pserver", name)] = _present({
            "hostname": name, "pserver-id": str(hv.get("id")), "pserver-name2": host,
            "in-maint": hv.get("state", "up") != "up",
            "number-of-cpus": hv.get("vcpus"), "disk-in-gigabytes": hv.get("local_gb"),
            "ram-in-megabytes": hv.get("memory_mb"), "ipv4-oam-address": hv.get("host_ip"),
            "relationship-list": {"relationship": relations}})
    types = {zone_of.get(_host_of(hv)): hv.get("hypervisor_type") for hv in hypervisors}
    for zone in zones:
        name = zone.get("zoneName")
        if not isinstance(name, str) or name == HIDDEN_ZONE:
            continue
        available = (zone.get("zoneState") or {}).get("available")
        docs[key("availability-zones", "availability-zone", name)] = {
            "availability-zone-name": name,
            "operational-status": "available" if available else "unavailable",
            "hypervisor-type": types.get(name) or "QEMU",  # ONAP's default for OpenStack
            "relationship-list": {"relationship": [
                _relation("pserver", f"/aai/{schema}/cloud-infrastructure/pservers/pserver/"
                          + quote(host, safe=""), [("pserver.hostname", host)])
                for host in sorted(pservers_of.get(name, []))]}}
    return docs


def _relation(kind: str, link: str, data: list[tuple[str, str]]) -> dict:
    return {"related-to": kind, "related-link": link,
            "relationship-data": [{"relationship-key": k, "relationship-value": v}
                                  for k, v in data]}


def _host_of(hypervisor: dict) -> str:
    service = hypervisor.get("service")
    host = service.get("host") if isinstance(service, dict) else None
    return str(host or hypervisor.get("hypervisor_hostname") or hypervisor.get("id"))


def _extra_info(region: CloudRegion) -> dict:
    text = (region.extra or {}).get("cloud-extra-info")
    try:
        doc = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _present(doc: dict) -> dict:
    """Without the fields the cloud did not give (A&AI takes no nulls)."""
    return {k: v for k, v in doc.items() if v is not None}


# Cloud calls ---------------------------------------------------------------------


def _pages(session: RegionSession, service: str, path: str, field: str) -> list[dict]:
    """Every item of a listing, page by page (limit and marker)."""
    items: list[dict] = []
    marker = None
    for _ in range(MAX_PAGES):
        query = {"limit": PAGE, **({"marker": marker} if marker else {})}
        page = _get(session, service, f"{path}?{urlencode(query)}").get(field)
        if not isinstance(page, list):
            raise BadGateway(f"cloud region {session.name}: {service} answered {path} "
                             f"without a list of {field}")
        page = [item for item in page if isinstance(item, dict) and "id" in item]
        items += page
        if len(page) < PAGE:
            return items
        marker = page[-1]["id"]
    raise BadGateway(f"cloud region {session.name}: {service} lists more than "
                     f"{PAGE * MAX_PAGES} {field}")


def _optional(session: RegionSession, path: str, field: str) -> list[dict]:
    """A compute listing that an unprivileged user may not read: [] then."""
    answer = session.call("compute", "GET", path)
    if answer.status_code == 403:
        return []
    found = _json(session, "compute", answer).get(field)
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _get(session: RegionSession, service: str, path: str) -> dict:
    return _json(session, service, session.call(service, "GET", path))


def _json(session: RegionSession, service: str, answer: Any) -> dict:
    if answer.status_code >= 400:  # the cloud refused the plugin, not the caller: 502
        raise BadGateway(f"cloud region {session.name}: {service} answered "
                         f"{answer.status_code} during discovery")
    if hasattr(answer, "json_object"):
        return answer.json_object()
    try:
        doc = answer.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}

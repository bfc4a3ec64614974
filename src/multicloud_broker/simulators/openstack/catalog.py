"""Registering the simulator's services in Keystone's catalog (--register).

Devstack's layout: each service type once (block storage both as
`block-storage` and as `volumev3`, as devstack registers it), public,
internal and admin endpoints in one region. Registering again (a new port)
updates the endpoints' URLs in place.
"""

from __future__ import annotations

from typing import Any

# (service type, service name, path under the simulator's root URL)
CATALOG = (
    ("compute", "nova", "/compute/v2.1"),
    ("network", "neutron", "/network"),
    ("image", "glance", "/image"),
    ("block-storage", "cinder", "/volume/v3/$(project_id)s"),
    ("volumev3", "cinderv3", "/volume/v3/$(project_id)s"),
    ("orchestration", "heat", "/heat/v1/$(project_id)s"),
)
INTERFACES = ("public", "internal", "admin")


def identity_url(keystone_url: str) -> str:
    """Keystone's v3 root from the URL given on the command line."""
    base = keystone_url.rstrip("/")
    return base if base.endswith("/v3") else base + "/v3"


def register(session: Any, keystone_url: str, root_url: str, region: str) -> dict[str, str]:
    """Add (or update) the services and endpoints; {service type: public URL}."""
    v3 = identity_url(keystone_url)
    _ensure_region(session, v3, region)
    registered = {}
    for service_type, name, path in CATALOG:
        service_id = _ensure_service(session, v3, service_type, name)
        url = root_url.rstrip("/") + path
        for interface in INTERFACES:
            _ensure_endpoint(session, v3, service_id, interface, region, url)
        registered[service_type] = url
    return registered


def _ensure_region(session, v3: str, region: str) -> None:
    resp = session.get(f"{v3}/regions/{region}", raise_exc=False)
    if resp.status_code == 404:
        session.post(f"{v3}/regions", json={"region": {"id": region}})
    elif resp.status_code != 200:
        resp.raise_for_status()


def _ensure_service(session, v3: str, service_type: str, name: str) -> str:
    services = session.get(f"{v3}/services", params={"type": service_type}).json()["services"]
    for service in services:
        if service.get("name") == name:
            return service["id"]
    created = session.post(f"{v3}/services", json={"service": {
        "type": service_type, "name": name, "enabled": True,
        "description": f"{name} (OpenStack simulator)"}})
    return created.json()["service"]["id"]


def _ensure_endpoint(session, v3: str, service_id: str, interface: str, region: str,
                     url: str) -> None:
    endpoints = session.get(f"{v3}/endpoints", params={
        "service_id": service_id, "interface": interface, "region_id": region}).json()["endpoints"]
    endpoints = [e for e in endpoints if e.get("region_id", e.get("region")) == region
                 and e.get("interface") == interface and e.get("service_id") == service_id]
    if not endpoints:
        session.post(f"{v3}/endpoints", json={"endpoint": {
            "service_id": service_id, "interface": interface, "url": url,
            "region_id": region, "enabled": True}})
        return
    first, *others = endpoints
    if first.get("url") != url or not first.get("enabled", True):
        session.patch(f"{v3}/endpoints/{first['id']}", json={"endpoint": {
            "url": url, "enabled": True}})
    for extra in others:  # one endpoint per interface and region
        session.delete(f"{v3}/endpoints/{extra['id']}")

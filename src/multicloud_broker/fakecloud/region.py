"""Region-level calls: registry, identity, tenants, capacity, limits, hosts."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from multicloud_broker.fakecloud import fields as f
from multicloud_broker.fakecloud import usage
from multicloud_broker.fakecloud.resources import public, tenant_doc
from multicloud_broker.fakecloud.store import Doc
from multicloud_broker.fakecloud.web import Ctx, HTTPError, Reply, bad_request, not_found

DEFAULT_TENANTS = ("admin", "demo")
SEED_FLAVORS = (  # name, vcpus, memory MB, disk GB: OpenStack's defaults
    ("m1.tiny", 1, 512, 1), ("m1.small", 1, 2048, 20), ("m1.medium", 2, 4096, 40),
    ("m1.large", 4, 8192, 80), ("m1.xlarge", 8, 16384, 160))
SEED_IMAGES = (  # name, size in bytes
    ("cirros-0.4.0-x86_64", 12716032), ("ubuntu-16.04-server", 290455552))
HOST_SERVICES = ((usage.COMPUTE_HOST, "compute", usage.AZ),
                 ("controller-0", "conductor", "internal"),
                 ("controller-0", "scheduler", "internal"))


def ensure_region(ctx: Ctx) -> None:
    """A region comes into being, with OpenStack's usual contents, when first used."""
    if ctx.store.get_region(ctx.region) is not None:
        return
    with ctx.store.transaction():
        ctx.store.add_region(ctx.region, ctx.owner, ctx.region_id)
        for name in DEFAULT_TENANTS:
            ctx.store.insert(ctx.region, "tenants", "", {"name": name})
        for name, vcpu, memory, disk in SEED_FLAVORS:
            ctx.store.insert(ctx.region, "flavors", "", {
                "name": name, "vcpu": vcpu, "memory": memory, "disk": disk,
                "ephemeral": 0, "swap": 0, "isPublic": True, "extraSpecs": {}})
        for name, size in SEED_IMAGES:
            ctx.store.insert(ctx.region, "images", "", {
                "name": name, "status": "active", "size": size, "imageType": "qcow2",
                "containerFormat": "bare", "visibility": "public", "properties": {},
                "checksum": None})


def default_tenant(ctx: Ctx) -> Doc:
    row = ctx.store.get_region(ctx.region)
    name = json.loads(row["info"]).get("defaultTenant") if row else None
    found = ctx.store.find(ctx.region, "tenants", name=name or DEFAULT_TENANTS[0])
    return found[0] if found else ctx.store.find(ctx.region, "tenants")[0]


# -- registry -----------------------------------------------------------------

def register(ctx: Ctx) -> Reply:
    body = ctx.req.json(ctx.settings.max_json_body)
    tenant = f.required_str(body, "defaultTenant")
    with ctx.store.transaction():
        # The simulated cloud has whatever default tenant ESR names.
        if not ctx.store.find(ctx.region, "tenants", name=tenant):
            ctx.store.insert(ctx.region, "tenants", "", {"name": tenant})
        ctx.store.set_registered(ctx.region, True, body)
    return 202, None


def registry_status(ctx: Ctx) -> Reply:
    row = ctx.store.get_region(ctx.region)
    if not row["registered"]:
        raise HTTPError(404, f"cloud region {ctx.region} is not registered")
    return 200, {**ctx.base(), "registered": True, **json.loads(row["info"])}


def unregister(ctx: Ctx) -> Reply:
    """The region leaves ONAP; the cloud and its resources stay as they are."""
    with ctx.store.transaction():
        ctx.store.set_registered(ctx.region, False, {})
        ctx.store.drop_tokens(ctx.region)
    return 204, None


def extensions(ctx: Ctx) -> Reply:
    return 200, {**ctx.base(), "extensions": []}


# -- identity -----------------------------------------------------------------

def identity_version(ctx: Ctx) -> Reply:
    return 200, {"version": {"id": "v3.10", "status": "stable",
                             "links": [{"rel": "self", "href": ctx.url("/identity/v3")}]}}


def issue_token(ctx: Ctx) -> Reply:
    body = ctx.req.json(ctx.settings.max_json_body, optional=True)
    auth = body.get("auth", {})
    if not isinstance(auth, dict):
        raise bad_request("auth must be an object")
    project = _scoped_project(ctx, auth)
    user = _user_name(auth)
    token, expires = ctx.store.add_token(ctx.region, project["id"],
                                         ctx.settings.token_lifetime)
    doc = _token_doc(ctx, project, user, expires)
    return 201, doc, {"X-Subject-Token": token}


def validate_token(ctx: Ctx) -> Reply:
    subject = ctx.req.header("X-Subject-Token") or ctx.req.header("X-Auth-Token")
    row = ctx.store.get_token(subject, ctx.region) if subject else None
    if row is None:
        raise HTTPError(404, "token not found or expired")
    project = ctx.store.get(ctx.region, "tenants", row["project_id"]) or default_tenant(ctx)
    return 200, _token_doc(ctx, project, "admin", row["expires"]), {"X-Subject-Token": subject}


def _scoped_project(ctx: Ctx, auth: Doc) -> Doc:
    scope = auth.get("scope") or {}
    project = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(project, dict):
        return default_tenant(ctx)
    if project.get("id"):
        doc = ctx.store.get(ctx.region, "tenants", str(project["id"]))
    else:
        found = ctx.store.find(ctx.region, "tenants", name=str(project.get("name")))
        doc = found[0] if found else None
    if doc is None:
        raise HTTPError(401, "the project in auth.scope is not known to this cloud")
    return doc


def _user_name(auth: Doc) -> str:
    try:
        return str(auth["identity"]["password"]["user"]["name"])
    except (KeyError, TypeError):
        return "admin"


def _token_doc(ctx: Ctx, project: Doc, user: str, expires: float) -> Doc:
    stamp = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    domain = {"id": "default", "name": "Default"}
    return {"token": {
        "user": {"domain": domain, "id": user, "name": user},
        "project": {"id": project["id"], "name": project["name"], "domain": domain},
        "methods": ["password"], "roles": [{"id": "admin", "name": "admin"}],
        "catalog": [], "is_domain": False, "expires_at": stamp,
    }}


# -- tenants, capacity, limits, hosts --------------------------------------------

def list_tenants(ctx: Ctx) -> Reply:
    docs = ctx.store.find(ctx.region, "tenants", name=ctx.req.query.get("name"))
    return 200, {**ctx.base(), "tenants": [public(d) for d in docs]}


def capacity_check(ctx: Ctx) -> Reply:
    body = ctx.req.json(ctx.settings.max_json_body)
    wanted = usage.Amount(
        vcpus=f.as_number(body.get("vCPU", 0), "vCPU", 0),
        memory_mb=f.as_number(body.get("Memory", 0), "Memory", 0) * 1024,  # asked in GB
        storage_gb=f.as_number(body.get("Storage", 0), "Storage", 0))
    answer: Doc = {"result": wanted.fits_in(usage.available(ctx))}
    if ctx.version == "v1":
        answer["AZs"] = [usage.az_info(ctx)]
    return 200, answer


def limits(ctx: Ctx) -> Reply:
    tenant = ctx.params["tenant"]
    tenant_doc(ctx, tenant)
    tot, used = usage.total(ctx), usage.allocated(ctx)
    return 200, {
        **ctx.base(tenant),
        "maxTotalCores": tot.vcpus, "maxTotalRAMSize": tot.memory_mb,
        "maxTotalVolumeGigabytes": tot.storage_gb, "maxTotalInstances": 100,
        "maxTotalVolumes": 100, "maxTotalKeypairs": 100, "maxServerMeta": 128,
        "maxPersonality": 5, "maxPersonalitySize": 10240,
        "maxServerGroups": 10, "maxServerGroupMembers": 10,
        "totalCoresUsed": used.vcpus, "totalRAMUsed": used.memory_mb,
        "totalInstancesUsed": len(ctx.store.find(ctx.region, "servers")),
        "totalVolumesUsed": len(ctx.store.find(ctx.region, "volumes")),
        "totalGigabytesUsed": used.storage_gb,
        "network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10,
        "security_group": 10, "security_group_rule": 100,
    }


def list_hosts(ctx: Ctx) -> Reply:
    tenant = ctx.params["tenant"]
    tenant_doc(ctx, tenant)
    hosts = [{"name": n, "service": s, "zone": z} for n, s, z in HOST_SERVICES]
    return 200, {**ctx.base(tenant), "hosts": hosts}


def show_host(ctx: Ctx) -> Reply:
    tenant, name = ctx.params["tenant"], ctx.params["host"]
    tenant_doc(ctx, tenant)
    if name not in {n for n, _, _ in HOST_SERVICES}:
        raise not_found("host", name)
    # Every server runs on the one compute host.
    zero = usage.Amount()
    tot = usage.total(ctx) if name == usage.COMPUTE_HOST else zero
    used = usage.allocated(ctx) if name == usage.COMPUTE_HOST else zero
    mine = usage.allocated(ctx, tenant) if name == usage.COMPUTE_HOST else zero
    rows = [("(total)", tot), ("(used_now)", used), ("(used_max)", used), (tenant, mine)]
    return 200, {**ctx.base(tenant), "name": name, "host": [
        {"name": name, "project": label, "cpu": a.vcpus, "memory_mb": a.memory_mb,
         "disk_gb": a.storage_gb} for label, a in rows]}

"""The WSGI application: the plugin-side MultiCloud API v0 and v1 for any
plugin name, over a route table compiled once."""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from multicloud_broker.fakecloud import region, resources, uploads, workload
from multicloud_broker.fakecloud.store import Store
from multicloud_broker.fakecloud.web import (
    Ctx, Handler, HTTPError, Reply, Request, Settings)

# v0 addresses a region as {owner}_{region} (the owner has no "_"),
# v1 as {owner}/{region}; both share the region's state.
V0 = re.compile(r"^/api/(?P<plugin>[^/]+)/(?P<version>v0)/(?P<owner>[^/_]+)_(?P<region>[^/]+)"
                r"(?P<rest>/.*)?$")
V1 = re.compile(r"^/api/(?P<plugin>[^/]+)/(?P<version>v1)/(?P<owner>[^/]+)/(?P<region>[^/]+)"
                r"(?P<rest>/.*)?$")
KIND = "(?P<kind>" + "|".join(resources.KINDS) + ")"
TENANT = "/(?P<tenant>[^/]+)"
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
               400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
               404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
               413: "Payload Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error"}


def _resource_list(ctx: Ctx) -> Reply:
    kind = resources.KINDS[ctx.params["kind"]]
    tenant = ctx.params["tenant"]
    resources.tenant_doc(ctx, tenant)
    return 200, resources.listing(ctx, kind, tenant)


def _resource_create(ctx: Ctx) -> Reply:
    kind = resources.KINDS[ctx.params["kind"]]
    tenant = ctx.params["tenant"]
    resources.tenant_doc(ctx, tenant)
    boundary = uploads.multipart.boundary_of(ctx.req.header("Content-Type"))
    if boundary and kind is resources.IMAGES:
        body, upload = uploads.image_form(ctx.req, boundary)
        doc = resources.Images.metadata(body)
        doc.update(status="active", size=upload.size, checksum=upload.md5.hexdigest(),
                   imagePath=None)
    elif boundary:
        raise HTTPError(415, f"{kind.name} take a JSON body, not a form")
    else:
        doc = kind.prepare(ctx, tenant, ctx.req.json(ctx.settings.max_json_body))
    return 202, resources.create(ctx, kind, tenant, doc)


def _resource_show(ctx: Ctx) -> Reply:
    kind = resources.KINDS[ctx.params["kind"]]
    resources.tenant_doc(ctx, ctx.params["tenant"])
    return 200, resources.show(ctx, kind, ctx.params["tenant"], ctx.params["rid"])


def _resource_delete(ctx: Ctx) -> Reply:
    kind = resources.KINDS[ctx.params["kind"]]
    resources.tenant_doc(ctx, ctx.params["tenant"])
    resources.remove(ctx, kind, ctx.params["tenant"], ctx.params["rid"])
    return 204, None


def _server_action(ctx: Ctx) -> Reply:
    resources.tenant_doc(ctx, ctx.params["tenant"])
    body = ctx.req.json(ctx.settings.max_json_body)
    resources.server_action(ctx, ctx.params["tenant"], ctx.params["rid"], body)
    return 202, None


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    auth: bool = True  # the call needs an X-Auth-Token from identity
    v1_only: bool = False


def _route(path: str, methods: dict[str, Handler], **kw: Any) -> Route:
    return Route(re.compile("^" + path + "$"), methods, **kw)


# Checked in order: fixed names first, then the tenant-scoped paths.
ROUTES = (
    _route("", {"DELETE": region.unregister}, auth=False),
    _route("/registry", {"POST": region.register, "GET": region.registry_status}, auth=False),
    _route("/identity/v3", {"GET": region.identity_version}, auth=False),
    _route("/identity/v3/auth/tokens",
           {"POST": region.issue_token, "GET": region.validate_token}, auth=False),
    _route("/capacity_check", {"POST": region.capacity_check}, auth=False),
    _route("/extensions", {"GET": region.extensions}, auth=False),
    _route("/tenants", {"GET": region.list_tenants}),
    _route("/infra_workload", {"POST": workload.create_workload,
                               "GET": workload.list_workloads}, v1_only=True),
    _route("/infra_workload/(?P<workload>[^/]+)",
           {"GET": workload.get_workload, "DELETE": workload.delete_workload}, v1_only=True),
    _route(TENANT + "/limits", {"GET": region.limits}),
    _route(TENANT + "/hosts", {"GET": region.list_hosts}),
    _route(TENANT + "/hosts/(?P<host>[^/]+)", {"GET": region.show_host}),
    _route(TENANT + "/servers/(?P<rid>[^/]+)/action", {"POST": _server_action}),
    _route(TENANT + "/" + KIND, {"GET": _resource_list, "POST": _resource_create}),
    _route(TENANT + "/" + KIND + "/(?P<rid>[^/]+)",
           {"GET": _resource_show, "DELETE": _resource_delete}),
)


def resolve(path: str) -> tuple[dict[str, str], Route, dict[str, str]] | None:
    """(region part, route, path parameters) for a path, or None."""
    scope = V0.match(path) or V1.match(path)
    if scope is None:
        return None
    rest = scope["rest"] or ""
    for route in ROUTES:
        if route.v1_only and scope["version"] != "v1":
            continue
        match = route.pattern.match(rest)
        if match:
            return scope.groupdict(), route, match.groupdict()
    return None


class FakeCloudApp:
    """The WSGI callable."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        req = Request(environ)
        try:
            status, body, headers = self.dispatch(req)
        except HTTPError as exc:
            status, body, headers = exc.status, {"error": exc.message}, exc.headers
        except Exception:  # a bug here must still answer, and say where
            traceback.print_exc(file=sys.stderr)
            status, body, headers = 500, {"error": "internal error in fakecloud"}, {}
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        out = [("Content-Type", "application/json")] if body is not None else []
        out += [("Content-Length", str(len(payload)))] + list(headers.items())
        start_response(f"{status} {STATUS_TEXT.get(status, 'Unknown')}", out)
        return [payload] if req.method != "HEAD" else []

    def dispatch(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        found = resolve(req.path)
        if found is None:
            raise HTTPError(404, f"no such resource: {req.path}")
        scope, route, params = found
        handler = route.methods.get(req.method)
        if handler is None:
            allow = ", ".join(sorted(route.methods))
            raise HTTPError(405, f"method {req.method} not allowed here; allowed: {allow}",
                            {"Allow": allow})
        ctx = Ctx(req=req, store=self.store, settings=self.settings,
                  version=scope["version"], plugin=scope["plugin"],
                  owner=scope["owner"], region_id=scope["region"], params=params)
        region.ensure_region(ctx)
        if route.auth:
            ctx.project_id = self.authenticate(ctx)
        reply = handler(ctx)
        return reply[0], reply[1], (reply[2] if len(reply) > 2 else {})

    def authenticate(self, ctx: Ctx) -> str:
        token = ctx.req.header("X-Auth-Token")
        if not token:
            raise HTTPError(401, "X-Auth-Token is required: POST identity/v3/auth/tokens "
                                 "for a token")
        row = self.store.get_token(token, ctx.region)
        if row is None:
            raise HTTPError(401, "the X-Auth-Token is not valid for this cloud region "
                                 "(unknown or expired)")
        return row["project_id"]


def make_app(state_file: str, total_vcpus: int = 64, total_memory_mb: int = 131072,
             total_storage_gb: int = 2048, build_seconds: float = 1.0) -> FakeCloudApp:
    """The simulated cloud's WSGI app, keeping its state in `state_file`."""
    if min(total_vcpus, total_memory_mb, total_storage_gb) < 0 or build_seconds < 0:
        raise ValueError("capacity totals and build time must not be negative")
    settings = Settings(total_vcpus=total_vcpus, total_memory_mb=total_memory_mb,
                        total_storage_gb=total_storage_gb, build_seconds=build_seconds)
    return FakeCloudApp(Store(state_file), settings)

"""The OpenStack plugin: ONAP's plugin API for OpenStack regions, answered
from the region's real cloud. Framework-free, like the broker: both web
adapters route to it from plugin/routes.py.

Per call: the region record (with its cloud access) from the inventory, the
Keystone session of the region and project (plugin/openstack/sessions.py),
then one of: a declared resource (plugin/resources.py), infra_workload
(plugin/workloads.py, with plugin/heatbridge.py), capacity_check
(plugin/capacity.py), registry (plugin/registry.py), the identity
proxy (plugin/identity.py) or the service proxy (forwarded as the broker
forwards to plugins, with the caller's own token).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from multicloud_broker.core.errors import NotFound
from multicloud_broker.core.forwarder import Forwarder
from multicloud_broker.core.health import draining
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.routes import Route
from multicloud_broker.core.service import Service
from multicloud_broker.core.target import checked_query, checked_rest
from multicloud_broker.core.vimid import make_vim_id, parse_vim_id
from multicloud_broker.inventory import CloudRegion, Inventory
from multicloud_broker.inventory.children import RegionChildren
from multicloud_broker.plugin import capacity, identity, routes, workloads
from multicloud_broker.plugin.heatbridge import Heatbridge
from multicloud_broker.plugin.hooks import tenant_list
from multicloud_broker.plugin.openstack.sessions import RegionSession, RegionSessions
from multicloud_broker.plugin.registry import Registry
from multicloud_broker.plugin.resources import ResourceApi, identification

LOG = logging.getLogger(__name__)


class OpenStackPlugin(Service):
    """Every route of plugin/routes.py, once."""

    routes = routes.ROUTES
    name = "the OpenStack plugin"

    def __init__(self, names: tuple[str, ...], inventory: Inventory, sessions: RegionSessions,
                 resources: ResourceApi, forwarder: Forwarder, broker_url: str,
                 swagger: Callable[[str], bytes], max_body_size: int,
                 children: RegionChildren | None = None):
        self.names = frozenset(names)
        self.inventory = inventory
        self.sessions = sessions
        self.resources = resources
        self.forwarder = forwarder
        self.broker_url = broker_url
        self.max_body_size = max_body_size
        self._swagger = {name: swagger(name) for name in names}  # built once per name
        # Where registry and heatbridge record (None: nowhere, registry is 404).
        self.registrar = (Registry(children, getattr(children, "schema", ""))
                          if children is not None else None)
        self.heatbridge = Heatbridge(children) if children is not None else None

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        return routes.match(path)

    def check_unrouted(self, request: Request) -> None:
        # An encoded '/' makes a path match no route: it is refused as such.
        super().check_unrouted(request)
        checked_rest(request.raw_path or request.path, 0)

    def allowed_methods(self, route: Route, params: dict[str, str]) -> tuple[str, ...]:
        # A declared resource answers the methods of its declared operations.
        if route.action in ("collection", "item"):
            return self.resources.methods(params["resource"], route.action == "item",
                                          route.methods)
        return route.methods

    def admit(self, route: Route, params: Mapping[str, str]) -> bool:
        # Only the configured plugin names exist; anything else is a 404.
        return "plugin" not in params or params["plugin"] in self.names

    # Service-wide routes --------------------------------------------------

    def swagger(self, request: Request, plugin: str) -> Response:
        return Response.raw(200, self._swagger[plugin], "application/json")

    def readyz(self, request: Request) -> Response:
        ready = not draining() and bool(self.resources.declared)
        body = {"status": "ready" if ready else "not ready",
                "checks": {"declarations": len(self.resources.declared),
                           "draining": draining()}}
        return Response.json(200 if ready else 503, body)

    # Region-scoped routes ---------------------------------------------------

    def identity_v3(self, request: Request, plugin: str, **scope: str) -> Response:
        region, scope_path = self._region(request, scope)
        if request.method != "POST":  # validate or revoke a token: Keystone's own API
            return self._forward(request, region, scope_path, "identity")
        session = self.sessions.get(region)
        return identity.issue_v3(session, request, self.broker_url, scope_path)

    def identity_v2(self, request: Request, plugin: str, **scope: str) -> Response:
        region, scope_path = self._region(request, scope)
        if request.method != "POST":
            raise NotFound("Keystone v2.0: only POST .../identity/v2.0/tokens is served")
        return identity.issue_v2(self.sessions.get(region), request, self.broker_url,
                                 scope_path)

    def proxy(self, request: Request, plugin: str, service_type: str, rest: str = "",
              **scope: str) -> Response:
        region, scope_path = self._region(request, scope)
        return self._forward(request, region, scope_path, service_type)

    def tenants(self, request: Request, plugin: str, **scope: str) -> Response:
        region, scope_path = self._region(request, scope)
        ids = identification(*_ids(region, scope_path), None)
        return tenant_list(self.sessions.get(region), ids)

    def collection(self, request: Request, plugin: str, tenantid: str, resource: str,
                   **scope: str) -> Response:
        region, scope_path = self._region(request, scope)
        session = self.sessions.get(region, tenantid)
        ids = identification(*_ids(region, scope_path), tenantid)
        if request.method == "POST":
            return self.resources.create(session, resource, tenantid, request, ids)
        return self.resources.list(session, resource, tenantid, request, ids)

    def item(self, request: Request, plugin: str, tenantid: str, resource: str,
             resource_id: str, **scope: str) -> Response:
        region, scope_path = self._region(request, scope)
        session = self.sessions.get(region, tenantid)
        if request.method == "DELETE":
            return self.resources.delete(session, resource, resource_id)
        ids = identification(*_ids(region, scope_path), tenantid)
        return self.resources.get(session, resource, resource_id, ids)

    def infra_workloads(self, request: Request, plugin: str, **scope: str) -> Response:
        session = self._project_session(request, scope)
        if request.method == "POST":
            return workloads.create(session, request, self.max_body_size)
        return workloads.listing(session, request, self.heatbridge)

    def infra_workload(self, request: Request, plugin: str, workload_id: str,
                       **scope: str) -> Response:
        session = self._project_session(request, scope)
        transaction_id = request.headers.get("x-transactionid", "")
        if request.method == "DELETE":
            return workloads.delete(session, workload_id, self.heatbridge, transaction_id)
        if request.method == "POST":
            return workloads.update(session, workload_id, self._bridge(), transaction_id)
        return workloads.show(session, workload_id, self.heatbridge, transaction_id)

    def registry(self, request: Request, plugin: str, **scope: str) -> Response:
        registry = self._registry()
        transaction_id = request.headers.get("x-transactionid", "")
        if request.method == "POST":
            return registry.register(self._project_session(request, scope), transaction_id)
        region, _ = self._region(request, scope)
        return registry.show(region, transaction_id)

    def unregister(self, request: Request, plugin: str, **scope: str) -> Response:
        region, _ = self._region(request, scope)
        return self._registry().unregister(region, request.headers.get("x-transactionid", ""))

    def capacity_check(self, request: Request, plugin: str, **scope: str) -> Response:
        return capacity.check(self._project_session(request, scope), request)

    # Helpers ------------------------------------------------------------------

    def _registry(self) -> Registry:
        if self.registrar is None:
            raise NotFound("this plugin records nothing in an inventory")
        return self.registrar

    def _bridge(self) -> Heatbridge:
        if self.heatbridge is None:
            raise NotFound("this plugin records nothing in an inventory")
        return self.heatbridge

    def _region(self, request: Request, scope: Mapping[str, str]) -> tuple[CloudRegion, str]:
        """The region of the call and its scope path (`v0/{vimid}` or `v1/{o}/{r}`).
        400 first if a segment of the path as sent could escape where it is
        used (a dot-segment or an encoded '/' in a tenant or resource id)."""
        checked_rest(request.raw_path or request.path, 0)
        if "vimid" in scope:
            owner, region_id = parse_vim_id(scope["vimid"])
            scope_path = f"v0/{scope['vimid']}"
        else:
            owner, region_id = scope["cloud_owner"], scope["cloud_region_id"]
            make_vim_id(owner, region_id)  # validates both parts
            scope_path = f"v1/{owner}/{region_id}"
        region = self.inventory.get(owner, region_id, request.headers["x-transactionid"])
        return region, scope_path

    def _project_session(self, request: Request, scope: Mapping[str, str]) -> RegionSession:
        """The region's session, in the project of the `Project` header (an id,
        as SO sends it) or else the region's own."""
        region, _ = self._region(request, scope)
        return self.sessions.get(region, request.headers.get("project") or None)

    def _forward(self, request: Request, region: CloudRegion, scope_path: str,
                 service_type: str) -> Response:
        """The call as the client wrote it, to the endpoint of `service_type` in
        the region's catalog (its scheme, host and port: nothing of the request
        chooses where it goes), with the caller's token."""
        # /api/{plugin}/{scope...}/{service_type}/{rest}
        skip = 2 + scope_path.count("/") + 1 + 1
        rest = checked_rest(request.raw_path or request.path, skip)
        query = checked_query(request.query)
        session: RegionSession = self.sessions.get(region)
        # Identity is where the region's record says (clients are pointed at
        # .../identity/v3); any other service where the catalog says.
        origin = (session.auth_url()[:-len("/v3")] if service_type == "identity"
                  else _origin(session.endpoint(service_type)))
        target = "/" + rest + (f"?{query}" if query else "")
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug("service proxy: %s %s of region %s to %s", request.method, target,
                      session.name, service_type)
        return self.forwarder.forward(request, f"openstack-{service_type}", origin, target)


def _ids(region: CloudRegion, scope_path: str) -> tuple[str, str, str]:
    return scope_path.split("/", 1)[0], region.cloud_owner, region.cloud_region_id


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def swagger_bytes(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()

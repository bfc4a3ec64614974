"""The OpenStack plugin's route table: each path once, with the methods it
allows, in the order both web frameworks try them.

Paths live under `/api/{plugin}/`, where `{plugin}` is one of the names the
plugin answers under (`[openstack_plugin] plugin_names`). A call scoped to a
cloud region has the scope `v0/{vimid}` or `v1/{cloud_owner}/{cloud_region_id}`;
below it, `infra_workload[/{id}]`, `capacity_check` and `registry` (Heat
stacks, room for a demand, the region recorded in the inventory; DELETE of
the scope itself unregisters), a first segment that is an OpenStack service type is the service
proxy, anything else the declared resources (`{tenantid}/{resource}`).
"""

from __future__ import annotations

import re

from multicloud_broker.core.routes import ALL_FORWARDED, ROOT_ROUTES, Route

PREFIX = "/api/"
# Service types of the OpenStack service-types authority that a catalog may
# name; `identity` is among them (token validation, projects...).
SERVICE_TYPES = (
    "identity", "compute", "network", "image", "volume", "volumev2", "volumev3",
    "block-storage", "orchestration", "placement", "object-store", "dns",
    "load-balancer", "key-manager", "metric", "alarming", "event", "baremetal",
    "shared-file-system", "sharev2", "container-infra", "workflow", "clustering",
    "message", "application-catalog", "reservation", "accelerator",
)
_SERVICE = "(?P<service_type>" + "|".join(re.escape(s) for s in SERVICE_TYPES) + ")"


class PluginRoute(Route):
    """A Route whose `{service_type:service}` parameter matches service types only."""

    def pattern(self) -> str:
        return super().pattern().replace("(?P<service_type>[^/]+)", _SERVICE)


def _region_routes(scope: str) -> list[Route]:
    return [
        # Before `{tenantid}/{resource}`, which their paths would also match.
        PluginRoute(f"{scope}/infra_workload", ("GET", "POST"), "infra_workloads",
                    "Deploy a Heat workload, or find one by ?name=", root=PREFIX),
        PluginRoute(f"{scope}/infra_workload/{{workload_id}}", ("GET", "POST", "DELETE"),
                    "infra_workload", "A workload's status and outputs, record its "
                    "servers in the inventory, or delete it", root=PREFIX),
        PluginRoute(f"{scope}/registry", ("GET", "POST"), "registry",
                    "Discover the region and record it in the inventory, or show what "
                    "is recorded", root=PREFIX),
        PluginRoute(scope, ("DELETE",), "unregister",
                    "Remove what is recorded under the region", root=PREFIX),
        PluginRoute(f"{scope}/capacity_check", ("POST",), "capacity_check",
                    "Whether the region can host the given vCPUs, memory and storage",
                    root=PREFIX),
        PluginRoute(f"{scope}/identity/v3/auth/tokens", ALL_FORWARDED, "identity_v3",
                    "Authenticate with the region's Keystone; the catalog points "
                    "through MultiCloud", root=PREFIX),
        PluginRoute(f"{scope}/identity/v2.0/tokens", ALL_FORWARDED, "identity_v2",
                    "Keystone v2.0 tokens, for older clients", root=PREFIX),
        PluginRoute(f"{scope}/{{service_type}}", ALL_FORWARDED, "proxy",
                    "The root of an OpenStack service of the region", root=PREFIX),
        PluginRoute(f"{scope}/{{service_type}}/{{rest:path}}", ALL_FORWARDED, "proxy",
                    "Any call of an OpenStack service of the region, forwarded to "
                    "the endpoint of the region's catalog", root=PREFIX),
        PluginRoute(f"{scope}/tenants", ("GET",), "tenants",
                    "The region's projects", root=PREFIX),
        PluginRoute(f"{scope}/{{tenantid}}/{{resource}}", ("GET", "POST"), "collection",
                    "List or create a declared resource", root=PREFIX),
        PluginRoute(f"{scope}/{{tenantid}}/{{resource}}/{{resource_id}}", ("GET", "DELETE"),
                    "item", "Show or delete a declared resource", root=PREFIX),
    ]


API_ROUTES: tuple[Route, ...] = (
    PluginRoute("{plugin}/v0/swagger.json", ("GET",), "swagger",
                "This API as Swagger 2.0", root=PREFIX),
    PluginRoute("{plugin}/v1/swagger.json", ("GET",), "swagger",
                "This API as Swagger 2.0", root=PREFIX),
    *_region_routes("{plugin}/v0/{vimid}"),
    *_region_routes("{plugin}/v1/{cloud_owner}/{cloud_region_id}"),
)
HEALTH_ROUTES = tuple(r for r in ROOT_ROUTES if r.action in ("healthz", "readyz", "metrics"))
ROUTES: tuple[Route, ...] = API_ROUTES + HEALTH_ROUTES


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route whose template matches a full request path."""
    if path.startswith(PREFIX):
        below, routes = path[len(PREFIX):], API_ROUTES
    else:
        below, routes = path[1:], HEALTH_ROUTES
    for route in routes:
        found = route.regex.match(below)
        if found:
            return route, found.groupdict()
    return None

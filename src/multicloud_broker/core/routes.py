"""The API's route table: each path once, with the methods it allows.

Both web adapters route from this table in their own way (a Django URLconf,
a Pecan `_route`), and the Swagger document is generated from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = "/api/multicloud/"
# Health paths live at the root, outside the API's namespace: Kubernetes'
# conventional names, and never mistaken for (or forwarded as) an API call.
ROOT = "/"
ALL_FORWARDED = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_PARAM = re.compile(r"\{(\w+)(:path)?\}")


@dataclass(frozen=True)
class Route:
    """A path template under `root` (PREFIX or ROOT), e.g. `v0/{vimid}/registry`."""

    template: str
    methods: tuple[str, ...]
    action: str          # name of the Broker method that answers it
    summary: str
    root: str = PREFIX
    regex: re.Pattern = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "regex", re.compile(self.pattern()))

    def pattern(self) -> str:
        """Regex of the path below `root`, named groups for the parameters."""
        def group(match: re.Match) -> str:
            body = ".+" if match.group(2) else "[^/]+"
            return f"(?P<{match.group(1)}>{body})"
        return "^" + _PARAM.sub(group, re.escape(self.template).replace(r"\{", "{").replace(r"\}", "}")) + "/?$"

    @property
    def params(self) -> list[str]:
        return [m.group(1) for m in _PARAM.finditer(self.template)]


def _vim_routes(version: str, scope: str, extra: list[Route]) -> list[Route]:
    base = f"{version}/{scope}"
    return [
        Route(base, ("DELETE",), "forward", "Unregister the cloud region"),
        Route(f"{base}/registry", ("POST", "GET"), "forward",
              "Register or re-discover the cloud region"),
        Route(f"{base}/identity/v3", ("GET", "POST"), "forward", "Identity service"),
        Route(f"{base}/identity/v3/auth/tokens", ("GET", "POST"), "forward",
              "Issue or check a token"),
        Route(f"{base}/extensions", ("GET",), "forward", "List plugin extensions"),
        *extra,
        Route(f"{base}/{{rest:path}}", ALL_FORWARDED, "forward",
              "Any other VIM-scoped call, forwarded to the region's plugin"),
    ]


API_ROUTES: tuple[Route, ...] = (
    Route("v0/vim_types", ("GET",), "vim_types", "Cloud types and versions served"),
    Route("v1/vim_types", ("GET",), "vim_types", "Cloud types and versions served"),
    Route("v0/swagger.json", ("GET",), "swagger", "This API as Swagger 2.0"),
    Route("v1/swagger.json", ("GET",), "swagger", "This API as Swagger 2.0"),
    Route("v0/check_vim_capacity", ("POST",), "check_capacity_v0",
          "Which of the listed VIMs can host the given resources"),
    Route("v1/check_vim_capacity", ("POST",), "check_capacity_v1",
          "Which of the listed cloud regions can host the given resources"),
    *_vim_routes("v0", "{vimid}", []),
    *_vim_routes("v1", "{cloud_owner}/{cloud_region_id}", [
        Route("v1/{cloud_owner}/{cloud_region_id}/infra_workload",
              ("GET", "POST", "DELETE"), "forward", "Deploy or list workloads"),
        Route("v1/{cloud_owner}/{cloud_region_id}/infra_workload/{rest:path}",
              ("GET", "POST", "DELETE"), "forward", "One workload"),
    ]),
)


ROOT_ROUTES: tuple[Route, ...] = (
    Route("healthz", ("GET",), "healthz",
          "Liveness: the worker answering is serving (asks no one; tells a "
          "shared inventory's state)", root=ROOT),
    Route("readyz", ("GET",), "readyz",
          "Readiness of this replica, from its own state only: catalog, drain, "
          "a local inventory", root=ROOT),
    Route("metrics", ("GET",), "metrics",
          "Prometheus metrics of every worker process (text format 0.0.4)", root=ROOT),
    # The regions API (core/regions.py): A&AI's own paths, so tools that
    # register regions in A&AI can register them with the broker. Served only
    # when [region_api] has credentials and {schema} is [aai] schema_version.
    Route("aai/{schema}/cloud-infrastructure/cloud-regions", ("GET",), "region_list",
          "List the cloud regions of the broker's inventory", root=ROOT),
    Route("aai/{schema}/cloud-infrastructure/cloud-regions/cloud-region/"
          "{cloud_owner}/{cloud_region_id}", ("GET", "PUT", "DELETE"), "region_one",
          "Show, create or replace, or delete a cloud region", root=ROOT),
    Route("aai/{schema}/cloud-infrastructure/cloud-regions/cloud-region/"
          "{cloud_owner}/{cloud_region_id}/{rest:path}", ("GET",), "region_child",
          "What the OpenStack plugin recorded under a cloud region", root=ROOT),
)
# Every route, for the adapters and the Swagger document.
ROUTES: tuple[Route, ...] = API_ROUTES + ROOT_ROUTES


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route whose template matches a full request path."""
    if path.startswith(PREFIX):
        below, routes = path[len(PREFIX):], API_ROUTES
    elif path.startswith(ROOT):
        below, routes = path[len(ROOT):], ROOT_ROUTES
    else:
        return None
    for route in routes:
        found = route.regex.match(below)
        if found:
            return route, found.groupdict()
    return None

"""The broker: answers each route of the API from a neutral Request."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import quote

from multicloud_broker.core import capacity
from multicloud_broker.core import regions as region_api
from multicloud_broker.core.catalog import PluginCatalog
from multicloud_broker.core.forwarder import Forwarder, client_headers
from multicloud_broker.core.health import (Readiness, SharedInventory, inventory_probe,
                                           readiness_report)
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.routes import PREFIX, ROUTES, Route
from multicloud_broker.core.routes import match as match_route
from multicloud_broker.core.service import TRANSACTION_HEADER, Service
from multicloud_broker.core.swagger import swagger_document
from multicloud_broker.core.target import plugin_target
from multicloud_broker.core.vimid import make_vim_id, parse_vim_id
from multicloud_broker.inventory import Inventory
from multicloud_broker.inventory.cache import inventory_source

LOG = logging.getLogger(__name__)
CAPACITY_BODY_LIMIT = 1 << 20  # a capacity request is a few hundred bytes


class Broker(Service):
    """Everything the API does, once, whatever framework routes to it."""

    routes = ROUTES

    def __init__(self, catalog: PluginCatalog, inventory: Inventory,
                 forwarder: Forwarder, plugin_base: Callable[[str], str],
                 fan_out: capacity.CapacityFanOut, max_body_size: int,
                 probe_interval: float = 5.0,
                 regions: region_api.RegionApi | None = None,
                 shared: SharedInventory | None = None):
        self.catalog = catalog
        self.inventory = inventory
        self.forwarder = forwarder
        self.plugin_base = plugin_base
        self.fan_out = fan_out
        self.max_body_size = max_body_size
        # Off unless given one: its paths then do not exist (404, undocumented).
        self.regions = regions or region_api.RegionApi("", None, None)
        self._swagger = region_api.document(  # documents the bound and the regions API
            swagger_document(fan_out.max_vims), self.regions)
        # A shared inventory (A&AI, a fleet's PostgreSQL) is told in /healthz,
        # never in /readyz: down for everyone, it must not empty the balancer.
        self.shared = shared
        self._readiness = (None if shared is not None
                           else Readiness(inventory_probe(inventory.get), probe_interval))

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        return match_route(path)

    def admit(self, route: Route, params: dict[str, str]) -> bool:
        # The regions API is off, or not at this schema version: no such paths.
        return not route.action.startswith("region_") or self.regions.serves(params)

    # Actions, one per kind of route -------------------------------------

    def vim_types(self, request: Request) -> Response:
        return Response.raw(200, self.catalog.vim_types_json, "application/json")

    def swagger(self, request: Request) -> Response:
        return Response.raw(200, self._swagger, "application/json")

    def healthz(self, request: Request) -> Response:
        if self.shared is None:
            return super().healthz(request)
        return Response.json(200, {"status": "ok", "inventory": self.shared.report()})

    def readyz(self, request: Request) -> Response:
        if self.shared is not None:
            self.shared.refresh()  # the probes' cadence keeps /healthz's view fresh
        ready, body = readiness_report(bool(self.catalog.vim_types_json), self._readiness)
        return Response.json(200 if ready else 503, body)

    def region_list(self, request: Request, schema: str) -> Response:
        return self.regions.list(request)

    def region_one(self, request: Request, schema: str, cloud_owner: str,
                   cloud_region_id: str) -> Response:
        return self.regions.one(request, cloud_owner, cloud_region_id)

    def region_child(self, request: Request, schema: str, cloud_owner: str,
                     cloud_region_id: str, rest: str) -> Response:
        return self.regions.child(request, cloud_owner, cloud_region_id, rest)

    def forward(self, request: Request, vimid: str = "", cloud_owner: str = "",
                cloud_region_id: str = "", rest: str = "") -> Response:
        if vimid:
            cloud_owner, cloud_region_id = parse_vim_id(vimid)
        else:
            make_vim_id(cloud_owner, cloud_region_id)  # validates both parts
        region = self.inventory.get(cloud_owner, cloud_region_id,
                                    request.headers["x-transactionid"])
        plugin = self.catalog.plugin_for(region.cloud_type, region.cloud_region_version)
        scope = request.path[len(PREFIX):].split("/", 1)[:1]
        scope += [vimid] if vimid else [cloud_owner, cloud_region_id]
        # The rest of the path as the client wrote it (checked it stays in scope).
        target = plugin_target(plugin, scope, request.raw_path or request.path, request.query)
        base = self.plugin_base(plugin)
        if LOG.isEnabledFor(logging.DEBUG):  # the routing decision, once per request
            LOG.debug("routing %s %s: region %s/%s, cloud %s %s, plugin %s at %s, "
                      "inventory %s", request.method, target, cloud_owner, cloud_region_id,
                      region.cloud_type, region.cloud_region_version, plugin, base,
                      inventory_source(self.inventory))
        return self.forwarder.forward(request, plugin, base, target)

    def check_capacity_v0(self, request: Request) -> Response:
        resources, vim_ids = capacity.parse_v0(request.read_json(CAPACITY_BODY_LIMIT))
        self.fan_out.check_count(len(vim_ids))
        answers = self._ask_all(request, resources, {
            v: lambda v=v: (*parse_vim_id(v), f"v0/{v}") for v in vim_ids})
        return Response.json(200, {"VIMs": [v for v in vim_ids if answers[v]]})

    def check_capacity_v1(self, request: Request) -> Response:
        resources, regions = capacity.parse_v1(request.read_json(CAPACITY_BODY_LIMIT))
        self.fan_out.check_count(len(regions))
        keys = [f'{r["cloud-owner"]}/{r["cloud-region-id"]}' for r in regions]
        answers = self._ask_all(request, resources, {
            k: lambda o=r["cloud-owner"], r=r["cloud-region-id"]: (o, r, f"v1/{o}/{r}")
            for k, r in zip(keys, regions)})
        found = [dict(r, AZs=answers[k].get("AZs") or [])
                 for k, r in zip(keys, regions) if answers[k]]
        return Response.json(200, {"VIMs": found})

    # Helpers ---------------------------------------------------------------

    def _ask_all(self, request: Request, resources: dict,
                 targets: dict[str, Callable[[], tuple[str, str, str]]]) -> dict[str, dict | None]:
        """Each VIM's capacity answer (None: no), asked concurrently, each
        distinct VIM once.

        A target gives (owner, region id, API scope); it is evaluated inside
        the fan-out so that a malformed one only leaves that VIM out.
        """
        body = json.dumps(resources).encode()
        txid = request.headers["x-transactionid"]
        # The client's headers go along, as on every forwarded call; the body
        # is the broker's own, so are its type and framing.
        headers = [(k, v) for k, v in client_headers(request)
                   if k.lower() != "content-type"]
        headers += [("Content-Type", "application/json"), (TRANSACTION_HEADER, txid)]
        return self.fan_out.run({
            name: lambda t=t: self._ask_capacity(*t(), body, headers, txid)
            for name, t in targets.items()})

    def _ask_capacity(self, owner: str, region_id: str, scope: str, body: bytes,
                      headers: list[tuple[str, str]], txid: str) -> dict | None:
        make_vim_id(owner, region_id)
        region = self.inventory.get(owner, region_id, txid)
        plugin = self.catalog.plugin_for(region.cloud_type, region.cloud_region_version)
        scope = "/".join(quote(part, safe="") for part in scope.split("/"))
        status, data = self.forwarder.post(
            plugin, self.plugin_base(plugin), f"/api/{plugin}/{scope}/capacity_check",
            headers, body, self.fan_out.timeout, txid)
        return capacity.answer_of(status, data)

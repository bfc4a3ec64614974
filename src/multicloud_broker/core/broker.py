"""The broker: answers each route of the API from a neutral Request."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from urllib.parse import quote

import urllib3

from multicloud_broker.core import capacity
from multicloud_broker.core.catalog import PluginCatalog
from multicloud_broker.core.correlation import TRANSACTION_ID
from multicloud_broker.core.errors import ApiError, MethodNotAllowed, NotFound, PayloadTooLarge
from multicloud_broker.core.forwarder import Forwarder
from multicloud_broker.core.health import Readiness, inventory_probe, readiness_report
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.routes import PREFIX, Route
from multicloud_broker.core.swagger import swagger_document
from multicloud_broker.core.vimid import make_vim_id, parse_vim_id
from multicloud_broker.inventory import Inventory

LOG = logging.getLogger(__name__)
TRANSACTION_HEADER = "X-TransactionID"
CAPACITY_BODY_LIMIT = 1 << 20  # a capacity request is a few hundred bytes


class Broker:
    """Everything the API does, once, whatever framework routes to it."""

    def __init__(self, catalog: PluginCatalog, inventory: Inventory,
                 forwarder: Forwarder, plugin_base: Callable[[str], str],
                 fan_out: capacity.CapacityFanOut, max_body_size: int,
                 probe_interval: float = 5.0):
        self.catalog = catalog
        self.inventory = inventory
        self.forwarder = forwarder
        self.plugin_base = plugin_base
        self.fan_out = fan_out
        self.max_body_size = max_body_size
        self._swagger = swagger_document()
        self._readiness = Readiness(inventory_probe(inventory.get), probe_interval)

    def handle(self, route: Route | None, request: Request,
               params: dict[str, str]) -> Response:
        """Answer one request that matched `route` (None: no route); never raises."""
        txid = request.headers.get("x-transactionid") or uuid.uuid4().hex
        request.headers["x-transactionid"] = txid
        TRANSACTION_ID.set(txid)
        try:
            if route is None:
                raise NotFound(f"no such resource: {request.path}")
            if request.method not in route.methods:
                raise MethodNotAllowed(request.method, route.methods)
            if (request.content_length or 0) > self.max_body_size:
                raise PayloadTooLarge(f"request body over {self.max_body_size} bytes")
            response = getattr(self, route.action)(request, **params)
        except ApiError as exc:
            response = Response.error(exc)
        except Exception:  # a bug of ours: log it, answer JSON, never a traceback
            LOG.exception("unexpected error on %s %s", request.method, request.path)
            response = Response.json(500, {"error": "internal error in the broker"})
        if response.header(TRANSACTION_HEADER) is None:
            response.headers.append((TRANSACTION_HEADER, txid))
        return response

    # Actions, one per kind of route -------------------------------------

    def vim_types(self, request: Request) -> Response:
        return Response.raw(200, self.catalog.vim_types_json, "application/json")

    def swagger(self, request: Request) -> Response:
        return Response.raw(200, self._swagger, "application/json")

    def healthz(self, request: Request) -> Response:
        return Response.raw(200, b'{"status": "ok"}', "application/json")

    def readyz(self, request: Request) -> Response:
        ready, body = readiness_report(bool(self.catalog.vim_types_json), self._readiness)
        return Response.json(200 if ready else 503, body)

    def forward(self, request: Request, vimid: str = "", cloud_owner: str = "",
                cloud_region_id: str = "", rest: str = "") -> Response:
        if vimid:
            cloud_owner, cloud_region_id = parse_vim_id(vimid)
        else:
            make_vim_id(cloud_owner, cloud_region_id)  # validates both parts
        region = self.inventory.get(cloud_owner, cloud_region_id,
                                    request.headers["x-transactionid"])
        plugin = self.catalog.plugin_for(region.cloud_type, region.cloud_region_version)
        target = f"/api/{plugin}/{request.path[len(PREFIX):]}"
        if request.query:
            target = f"{target}?{request.query}"
        return self.forwarder.forward(request, self.plugin_base(plugin), target)

    def check_capacity_v0(self, request: Request) -> Response:
        resources, vim_ids = capacity.parse_v0(request.read_json(CAPACITY_BODY_LIMIT))
        answers = self._ask_all(request, resources, [
            lambda v=v: (*parse_vim_id(v), f"v0/{v}") for v in vim_ids])
        return Response.json(200, {"VIMs": [v for v, a in zip(vim_ids, answers) if a]})

    def check_capacity_v1(self, request: Request) -> Response:
        resources, regions = capacity.parse_v1(request.read_json(CAPACITY_BODY_LIMIT))
        answers = self._ask_all(request, resources, [
            lambda o=r["cloud-owner"], r=r["cloud-region-id"]: (o, r, f"v1/{o}/{r}")
            for r in regions])
        found = [dict(r, AZs=a.get("AZs") or []) for r, a in zip(regions, answers) if a]
        return Response.json(200, {"VIMs": found})

    # Helpers ---------------------------------------------------------------

    def _ask_all(self, request: Request, resources: dict,
                 targets: list[Callable[[], tuple[str, str, str]]]) -> list[dict | None]:
        """Each target's capacity answer (None: no), all asked concurrently.

        A target gives (owner, region id, API scope); it is evaluated inside
        the fan-out so that a malformed one only leaves that VIM out.
        """
        body = json.dumps(resources).encode()
        txid = request.headers["x-transactionid"]
        return self.fan_out.run([lambda t=t: self._ask_capacity(*t(), body, txid)
                                 for t in targets])

    def _ask_capacity(self, owner: str, region_id: str, scope: str,
                      body: bytes, txid: str) -> dict | None:
        make_vim_id(owner, region_id)
        region = self.inventory.get(owner, region_id, txid)
        plugin = self.catalog.plugin_for(region.cloud_type, region.cloud_region_version)
        scope = "/".join(quote(part, safe="") for part in scope.split("/"))
        try:
            resp = self.forwarder.post_json(
                self.plugin_base(plugin), f"/api/{plugin}/{scope}/capacity_check", body,
                {"Content-Type": "application/json", TRANSACTION_HEADER: txid},
                self.fan_out.timeout)
        except urllib3.exceptions.HTTPError as exc:
            LOG.info("capacity check of %s unreachable: %s", scope, exc)
            return None
        return capacity.answer_of(resp.status, resp.data)

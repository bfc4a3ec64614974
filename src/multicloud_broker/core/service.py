"""What every service of ours does with a request, whatever it serves: the
transaction id, 404/405/413, errors as JSON, metrics; and the health and
metrics endpoints. The broker (core/broker.py) and the OpenStack plugin
(plugin/service.py) are Services with a route table and one method per
route action."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence

from multicloud_broker import metrics
from multicloud_broker.core.correlation import TRANSACTION_ID
from multicloud_broker.core.errors import ApiError, MethodNotAllowed, NotFound, PayloadTooLarge
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.routes import Route
from multicloud_broker.core.target import check_path

LOG = logging.getLogger(__name__)
TRANSACTION_HEADER = "X-TransactionID"
# A transaction id goes into logs, headers and upstream calls: a short token only.
_TXID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class Service:
    """Answers requests routed by `routes`: a subclass names them and has one
    method per route action."""

    routes: Sequence[Route] = ()
    name = "the broker"  # in the error of a bug of ours: "internal error in ..."
    max_body_size = 10 << 20

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route of a full request path, with its parameters (None: none)."""
        raise NotImplementedError

    def admit(self, route: Route, params: dict[str, str]) -> bool:
        """Whether `route` is served now (a subclass may switch routes off)."""
        return True

    def allowed_methods(self, route: Route, params: dict[str, str]) -> tuple[str, ...]:
        """The methods `route` answers (405 with Allow for the others)."""
        return route.methods

    def check_unrouted(self, request: Request) -> None:
        """400 instead of 404 for a path that is malformed, not just unknown."""
        check_path(request.path)  # control characters

    def handle(self, route: Route | None, request: Request,
               params: dict[str, str]) -> Response:
        """Answer one request that matched `route` (None: no route); never raises."""
        started = metrics.request_started()
        txid = transaction_id(request.headers.get("x-transactionid"))
        request.headers["x-transactionid"] = txid
        TRANSACTION_ID.set(txid)
        try:
            if route is not None and not self.admit(route, params):
                route = None
            if route is None:
                self.check_unrouted(request)
                raise NotFound(f"no such resource: {request.path}")
            allowed = self.allowed_methods(route, params)
            if request.method not in allowed:
                raise MethodNotAllowed(request.method, allowed)
            if (request.content_length or 0) > self.max_body_size:
                raise PayloadTooLarge(f"request body over {self.max_body_size} bytes")
            response = getattr(self, route.action)(request, **params)
        except ApiError as exc:
            response = Response.error(exc)
        except Exception:  # a bug of ours: log it, answer JSON, never a traceback
            LOG.exception("unexpected error on %s %s", request.method, request.path)
            response = Response.json(500, {"error": f"internal error in {self.name}"})
        if response.header(TRANSACTION_HEADER) is None:
            response.headers.append((TRANSACTION_HEADER, txid))
        metrics.request_done(route, request.method, response.status, started)
        return response

    def healthz(self, request: Request) -> Response:
        return Response.raw(200, b'{"status": "ok"}', "application/json")

    def metrics(self, request: Request) -> Response:
        return Response.raw(200, metrics.exposition(), metrics.CONTENT_TYPE)


def transaction_id(given: str | None) -> str:
    """The client's X-TransactionID if it is a short token; else a new one."""
    if given is not None and _TXID.fullmatch(given):
        return given
    txid = uuid.uuid4().hex
    if given is not None:
        # ascii() escapes control characters: the log line cannot be forged.
        LOG.warning("X-TransactionID %s is not a token of up to 128 [A-Za-z0-9._:-]; "
                    "replaced by %s", ascii(given[:200]), txid)
    return txid

"""The simulator's WSGI application: one port, a path prefix per service,
keystonemiddleware-like authentication, transport faults, and `/_sim/`."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import Counter
from typing import Any

from multicloud_broker.simulators.openstack.auth import KeystoneUnavailable, TokenValidator
from multicloud_broker.simulators.openstack.compute import Compute
from multicloud_broker.simulators.openstack.faults import SERVICES, Fault, Faults
from multicloud_broker.simulators.openstack.image import Image
from multicloud_broker.simulators.openstack.network import Network
from multicloud_broker.simulators.openstack.orchestration import Orchestration
from multicloud_broker.simulators.openstack.service import Service
from multicloud_broker.simulators.openstack.state import SimConfig, Store
from multicloud_broker.simulators.openstack.volume import Volume
from multicloud_broker.simulators.openstack.web import (
    ApiError, Request, Response, status_line)

LOG = logging.getLogger(__name__)
# The environ key under which the simulator's own server hands over the raw
# connection (server.py); raw transport faults need it.
RAW_CONNECTION = "openstack_sim.connection"
GARBAGE = b"<html><body>502 Bad Gateway</body></html>{\"truncated\": tru"


class Cloud:
    """Every service's state and the shared machinery, built once."""

    def __init__(self, config: SimConfig, validator: TokenValidator, admin_project_id: str,
                 keystone_url: str, image_dir: str):
        self.config = config
        self.validator = validator
        self.admin_project_id = admin_project_id
        self.keystone_url = keystone_url
        self.image_dir = image_dir
        self.store = Store(config)
        self.faults = Faults()
        self.counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._build()

    def _build(self) -> None:
        with self.store.lock:
            self.network = Network(self)
            self.image = Image(self)
            self.volume = Volume(self)
            self.compute = Compute(self)
            self.orchestration = Orchestration(self)
        self.services: list[Service] = [self.compute, self.network, self.image, self.volume,
                                        self.orchestration]

    def reset(self) -> None:
        """Back to the state at start: seeds only, no faults, counts or cached tokens."""
        with self.store.lock:
            self.store.clear()
            for name in os.listdir(self.image_dir):
                path = os.path.join(self.image_dir, name)
                if os.path.isfile(path):
                    os.unlink(path)
            self._build()
        self.faults.clear()
        self.reset_counts()
        self.validator.flush()

    def tick_forever(self, interval: float = 0.1) -> None:
        """Run due transitions every `interval` s even when no request comes,
        so chains (a stack deleting a server, then the volume it booted from)
        move on by themselves. Run in a greenlet of its own."""
        while True:
            time.sleep(interval)
            try:
                with self.store.lock:
                    self.store.tick()
            except Exception:  # the clock must not stop
                LOG.exception("a tick failed")

    def count(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    def reset_counts(self) -> None:
        with self._counts_lock:
            self.counts.clear()
        self.validator.validations = 0

    def count_doc(self) -> dict[str, int]:
        with self._counts_lock:
            doc = {name: self.counts.get(name, 0) for name in SERVICES}
        doc["token_validations"] = self.validator.validations
        return doc


class Unauthorized(Exception):
    """No token, or one Keystone does not vouch for."""


class SimulatorApp:
    """The WSGI callable."""

    def __init__(self, cloud: Cloud):
        self.cloud = cloud
        # (path prefix, the Cloud attribute holding the service): reset() builds
        # new service objects, so each request looks its service up.
        self.prefixes = [(s.prefix, s.name) for s in cloud.services]

    # -- WSGI -------------------------------------------------------------------

    def __call__(self, environ: dict, start_response) -> Any:
        path = environ.get("PATH_INFO", "") or "/"
        try:
            path = path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
        if path == "/_sim" or path.startswith("/_sim/"):
            return self._send(start_response, self.control(environ, path[len("/_sim"):]))
        service = None
        for prefix, name in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                service = getattr(self.cloud, name)
                break
        if service is None:
            return self._send(start_response, self.index(environ, path))
        self.cloud.count(service.name)
        request = Request(environ, path[len(service.prefix):],
                          _host_url(environ) + service.prefix)
        fault = self.cloud.faults.take_transport(service.name, request.method, request.path)
        if fault is not None and fault.kind in ("status", "garbage", "hang", "reset"):
            return self._early_fault(fault, service, request, start_response)
        response = self.handle(service, request)
        if fault is not None:
            return self._late_fault(fault, request, response, start_response)
        return self._send(start_response, response)

    @staticmethod
    def _send(start_response, response: Response):
        headers = list(response.headers)
        body = response.body
        if isinstance(body, (bytes, bytearray)):
            if not any(k.lower() == "content-length" for k, _ in headers):
                headers.append(("Content-Length", str(len(body))))
            body = [bytes(body)]
        start_response(status_line(response.status), headers)
        return body

    def handle(self, service: Service, request: Request) -> Response:
        """Route, authenticate, run; every failure in the service's error shape."""
        extra: list[tuple[str, str]] = [("x-openstack-request-id", f"req-{uuid.uuid4()}")]
        try:
            try:
                route, params = service.router.match(request.method, request.path)
                missing = None
            except ApiError as exc:
                route, params, missing = None, {}, exc
            if route is None or not route.public:
                request.ctx = self.authenticate(request)
            if route is None:
                assert missing is not None
                raise missing
            request.params = params
            extra += service.negotiate(request)
            if route.streaming:
                response = route.handler(request)
            else:
                request.body()  # read before taking the lock: a slow client stalls no one
                with self.cloud.store.lock:
                    self.cloud.store.tick()
                    response = route.handler(request)
        except Unauthorized:
            response = service.unauthorized(request, self.cloud.keystone_url)
        except KeystoneUnavailable:
            response = service.error(request, ApiError(
                503, "The service is unavailable: cannot validate the token with Keystone."))
        except ApiError as err:
            response = service.error(request, err)
        except Exception:
            LOG.exception("%s %s failed", request.method, request.path)
            response = service.error(request, ApiError(
                500, "Unexpected API Error. Please report this at the simulator's project."))
        names = {k.lower() for k, _ in response.headers}
        response.headers.extend((k, v) for k, v in extra if k.lower() not in names)
        return response

    def authenticate(self, request: Request):
        token = request.header("X-Auth-Token")
        if not token:
            raise Unauthorized()
        context = self.cloud.validator.validate(token.strip())
        if context is None:
            raise Unauthorized()
        return context

    # -- transport faults -------------------------------------------------------

    def _early_fault(self, fault: Fault, service: Service, request: Request, start_response):
        if fault.kind == "status":
            message = fault.message or status_line(fault.status).split(" ", 1)[1]
            return self._send(start_response, service.error(request,
                                                            ApiError(fault.status, message)))
        if fault.kind == "garbage":
            return self._send(start_response, Response(
                fault.status, GARBAGE, [("Content-Type", "application/json")]))
        conn = request.environ.get(RAW_CONNECTION)
        if conn is None:
            return self._send(start_response, Response.json(
                501, {"error": f"a {fault.kind} fault needs the simulator's own server"}))
        if fault.kind == "reset":
            conn.reset()
            return []
        generation = self.cloud.faults.generation
        deadline = time.monotonic() + fault.seconds
        while time.monotonic() < deadline and self.cloud.faults.generation == generation:
            time.sleep(0.05)
        conn.close()
        return []

    def _late_fault(self, fault: Fault, request: Request, response: Response, start_response):
        conn = request.environ.get(RAW_CONNECTION)
        if conn is None:
            return self._send(start_response, Response.json(
                501, {"error": f"a {fault.kind} fault needs the simulator's own server"}))
        body = response.body if isinstance(response.body, (bytes, bytearray)) \
            else b"".join(response.body)
        headers = [(k, v) for k, v in response.headers
                   if k.lower() not in ("content-length", "connection")]
        headers += [("Content-Length", str(len(body))), ("Connection", "close")]
        head = f"HTTP/1.1 {status_line(response.status)}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        try:
            if fault.kind == "truncate":
                cut = len(body) // 2 if fault.cut_bytes is None else min(fault.cut_bytes,
                                                                         max(len(body) - 1, 0))
                conn.send(head.encode("latin-1") + body[:cut])
            else:
                conn.send(head.encode("latin-1"))
                for start in range(0, len(body), fault.chunk):
                    time.sleep(fault.interval)
                    conn.send(body[start:start + fault.chunk])
        except OSError:
            pass  # the client went away
        conn.close()
        return []

    # -- the index and /_sim/ -------------------------------------------------------

    def index(self, environ: dict, path: str) -> Response:
        if path not in ("", "/"):
            return Response.json(404, {"error": {"code": 404, "message": f"nothing at {path}"}})
        host = _host_url(environ)
        return Response.json(200, {"services": {
            "compute": host + "/compute/v2.1", "network": host + "/network",
            "image": host + "/image", "volume": host + "/volume/v3/$(project_id)s",
            "orchestration": host + "/heat/v1/$(project_id)s"},
            "control": host + "/_sim/", "region": self.cloud.config.region})

    def control(self, environ: dict, path: str) -> Response:
        """The test-only API; see the package docstring."""
        request = Request(environ, path, _host_url(environ) + "/_sim")
        method = request.method
        try:
            if path in ("", "/") and method == "GET":
                return Response.json(200, {"faults": self.cloud.faults.listing(),
                                           "counts": self.cloud.count_doc()})
            if path == "/faults":
                if method == "GET":
                    return Response.json(200, {"faults": self.cloud.faults.listing()})
                if method == "POST":
                    fault = self.cloud.faults.add(request.json_object())
                    return Response.json(201, {"fault": fault.describe()})
                if method == "DELETE":
                    self.cloud.faults.clear()
                    return Response.empty(204)
            if path.startswith("/faults/") and method == "DELETE":
                try:
                    fault_id = int(path[len("/faults/"):])
                except ValueError:
                    raise ApiError(404, "no such fault") from None
                if not self.cloud.faults.clear(fault_id):
                    raise ApiError(404, "no such fault")
                return Response.empty(204)
            if path == "/count":
                if method == "GET":
                    return Response.json(200, self.cloud.count_doc())
                if method == "DELETE":
                    self.cloud.reset_counts()
                    return Response.empty(204)
            if path == "/tokens" and method == "DELETE":
                self.cloud.validator.flush()
                return Response.empty(204)
            if path == "/seed" and method == "POST":
                spec = request.json_object()
                count, project = spec.get("servers"), spec.get("project_id")
                if not isinstance(count, int) or not 0 < count <= 100000 \
                        or not isinstance(project, str):
                    raise ApiError(400, "servers (1 to 100000) and project_id are required")
                total = self.cloud.compute.seed_servers(project, count,
                                                        str(spec.get("prefix") or "seed"))
                return Response.json(201, {"servers": total})
            if path == "/reset" and method == "POST":
                self.cloud.reset()
                return Response.empty(204)
            raise ApiError(404, f"no {method} {path or '/'} under /_sim")
        except ApiError as err:
            return Response.json(err.status, {"error": {"code": err.status,
                                                        "message": err.message}})


def _host_url(environ: dict) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}"
    return f"{scheme}://{host}"


def make_app(config: SimConfig, validator: TokenValidator, admin_project_id: str,
             keystone_url: str, image_dir: str) -> SimulatorApp:
    """The simulator's WSGI app over a fresh simulated cloud."""
    os.makedirs(image_dir, exist_ok=True)
    return SimulatorApp(Cloud(config, validator, admin_project_id, keystone_url, image_dir))


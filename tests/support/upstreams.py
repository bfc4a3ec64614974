"""Real upstream HTTP servers for tests: a programmable plugin and an A&AI look-alike.

Each server listens on 127.0.0.1 on an ephemeral port and serves from daemon
threads of the test process. They speak HTTP/1.1 with keep-alive (the broker
pools its connections to them), read request bodies sent with Content-Length
or chunked, and record every request so tests can assert what the broker sent.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

LOCALHOST = "127.0.0.1"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


class ClosedPort:
    """A port kept bound but never listening, so connecting to it is refused.

    Holding the bound socket stops another process from taking the port while
    a test relies on it being dead.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOCALHOST, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{LOCALHOST}:{self.port}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "ClosedPort":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class RecordedRequest:
    """One request as an upstream server received it."""

    method: str
    target: str  # the raw request target: path and query as sent
    headers: Message  # case-insensitive access: headers["x-auth-token"]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    @property
    def header_items(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def header_names(self) -> set[str]:
        """Lower-case names of all headers received."""
        return {name.lower() for name in self.headers.keys()}

    def json(self) -> Any:
        return json.loads(self.body)


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, whether framed by Content-Length or chunked."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        return _read_chunked(handler.rfile)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _read_chunked(rfile: Any) -> bytes:
    """A chunked body; like any real server, EOF before the last chunk is an error."""
    parts = []
    while True:
        size_line = rfile.readline(65537)
        if not size_line:
            raise ConnectionError("connection closed inside a chunked body")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise ConnectionError("connection closed inside a chunk")
        parts.append(chunk)
        rfile.readline()  # CRLF after each chunk
    while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
        pass  # trailers, ignored
    return b"".join(parts)


class _QuietThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # slow handlers must not hold up shutdown
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client (the broker) giving up on a slow answer breaks the pipe: expected.
        pass


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TestUpstream/1.0"
    owner: "_RecordingServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        body = read_body(self)
        recorded = RecordedRequest(self.command, self.path, self.headers, body)
        self.owner._record(recorded)
        self.owner._respond(self, recorded)

    def send_reply(self, status: int, body: bytes = b"",
                   headers: list[tuple[str, str]] | None = None,
                   chunked: bool = False) -> None:
        """Write a complete HTTP/1.1 answer, always framed so keep-alive stays valid."""
        headers = list(headers or [])
        names = {name.lower() for name, _ in headers}
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if chunked and not no_body:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in names and not (status in (204, 304)):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if no_body:
            return
        if chunked:
            step = 64 * 1024
            for start in range(0, len(body), step):
                piece = body[start:start + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)


for _method in METHODS:
    setattr(_RecordingHandler, "do_" + _method, _RecordingHandler._handle)


class _RecordingServer:
    """Base: a threaded HTTP server that records requests and answers via _respond."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        handler = type("Handler", (_RecordingHandler,), {"owner": self})
        self._httpd = _QuietThreadingServer((LOCALHOST, 0), handler)
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{LOCALHOST}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> "_RecordingServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "_RecordingServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- recording -------------------------------------------------------
    def _record(self, recorded: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(recorded)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Requests received for exactly this path (query ignored)."""
        return [r for r in self.requests
                if r.path == path and (method is None or r.method == method)]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0,
                 method: str | None = None) -> list[RecordedRequest]:
        """The requests to `path` once at least `count` arrived (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.requests_to(path, method)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def _respond(self, handler: _RecordingHandler, recorded: RecordedRequest) -> None:
        raise NotImplementedError


@dataclass
class Behaviour:
    """How the plugin answers one path."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds to sleep before answering (a slow plugin)
    chunked: bool = False  # answer with Transfer-Encoding: chunked
    drop: bool = False  # close the connection without any answer


def _echo(recorded: RecordedRequest) -> bytes:
    try:
        text: str | None = recorded.body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return json.dumps({
        "method": recorded.method,
        "path": recorded.path,
        "query": recorded.query,
        "headers": {name.lower(): value for name, value in recorded.headers.items()},
        "body_length": len(recorded.body),
        "body": text,
    }, sort_keys=True).encode()


class PluginServer(_RecordingServer):
    """A MultiCloud plugin stand-in.

    Default answer: 200 with a JSON echo of what it received (method, path,
    query, headers with lower-case names, body). `respond()` programs another
    answer for one path (optionally one method); `answer_capacity()` programs a
    capacity_check verdict.
    """

    def __init__(self) -> None:
        super().__init__()
        self._behaviours: dict[tuple[str | None, str], Behaviour] = {}

    def respond(self, path: str, status: int = 200, body: bytes | None = None,
                headers: list[tuple[str, str]] | dict[str, str] | None = None,
                json_body: Any = None, delay: float = 0.0, chunked: bool = False,
                drop: bool = False, method: str | None = None) -> Behaviour:
        """Program the answer for requests to `path` (and `method`, if given)."""
        header_list = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if json_body is not None:
            body = json.dumps(json_body).encode()
            if not any(n.lower() == "content-type" for n, _ in header_list):
                header_list.append(("Content-Type", "application/json"))
        behaviour = Behaviour(status, body or b"", header_list, delay, chunked, drop)
        with self._lock:
            self._behaviours[(method.upper() if method else None, path)] = behaviour
        return behaviour

    def answer_capacity(self, path: str, result: bool, azs: list | None = None,
                        delay: float = 0.0, status: int = 200) -> Behaviour:
        """Program a capacity_check answer: {"result": result[, "AZs": azs]}."""
        payload: dict[str, Any] = {"result": result}
        if azs is not None:
            payload["AZs"] = azs
        return self.respond(path, status=status, json_body=payload, delay=delay,
                            method="POST")

    def reset(self) -> None:
        """Forget programmed answers and recorded requests."""
        with self._lock:
            self._behaviours.clear()
            self._requests.clear()

    def _behaviour_for(self, method: str, path: str) -> Behaviour | None:
        with self._lock:
            return (self._behaviours.get((method, path))
                    or self._behaviours.get((None, path)))

    def _respond(self, handler: _RecordingHandler, recorded: RecordedRequest) -> None:
        behaviour = self._behaviour_for(recorded.method, recorded.path)
        if behaviour is None:
            handler.send_reply(200, _echo(recorded), [("Content-Type", "application/json")])
            return
        if behaviour.delay:
            time.sleep(behaviour.delay)
        if behaviour.drop:
            handler.close_connection = True
            return
        handler.send_reply(behaviour.status, behaviour.body, behaviour.headers,
                           chunked=behaviour.chunked)


_AAI_REGION_PATH = re.compile(
    r"^/aai/(?P<schema>[^/]+)/cloud-infrastructure/cloud-regions/cloud-region/"
    r"(?P<owner>[^/]+)/(?P<region>[^/]+)$")
# The region's esr-system-info-list, or one esr-system-info of it.
_AAI_ESR_PATH = re.compile(
    r"^/aai/(?P<schema>[^/]+)/cloud-infrastructure/cloud-regions/cloud-region/"
    r"(?P<owner>[^/]+)/(?P<region>[^/]+)/esr-system-info-list"
    r"(?:/esr-system-info/(?P<esr_id>[^/]+))?$")


def aai_esr_record(service_url: str = "http://keystone.example:5000/v3",
                   user_name: str = "admin", password: str | None = "secret",
                   esr_id: str = "esr-1", **more: Any) -> dict:
    """An A&AI esr-system-info of a VIM (the cloud's access), with `more` fields
    (A&AI's names: cloud-domain, default-tenant, ssl-cacert, ssl-insecure...)."""
    record = {"esr-system-info-id": esr_id, "system-type": "VIM",
              "service-url": service_url, "user-name": user_name,
              "resource-version": "1536823406390", **more}
    if password is not None:
        record["password"] = password
    return record


def aai_region_record(owner: str, region: str, cloud_type: str, version: str) -> dict:
    """An A&AI cloud-region object with the fields the broker reads (and some it does not)."""
    return {
        "cloud-owner": owner,
        "cloud-region-id": region,
        "cloud-type": cloud_type,
        "cloud-region-version": version,
        "owner-defined-type": "t1",
        "cloud-zone": "z1",
        "complex-name": "clli1",
        "identity-url": f"http://keystone.example/{region}/v3",
        "resource-version": "1536823406389",
    }


# Anything below /cloud-infrastructure/ (regions' objects and pservers).
_AAI_BELOW = re.compile(r"^/aai/(?P<schema>[^/]+)/cloud-infrastructure/(?P<rest>.+)$")


def _levels(query: str) -> float:
    found = re.search(r"(?:^|&)depth=(all|[0-9]+)", query)
    if not found:
        return 0
    return float("inf") if found.group(1) == "all" else int(found.group(1))


def _aai_missing(path: str) -> tuple[int, dict]:
    return 404, {"requestError": {"serviceException": {
        "messageId": "ERR.5.4.6114", "text": "Node Not Found:No Node of type %1 found at: %2",
        "variables": [path.rsplit("/", 2)[-2], path]}}}


def _aai_precondition(path: str) -> tuple[int, dict]:
    return 412, {"requestError": {"serviceException": {
        "messageId": "ERR.5.4.6130", "text": "Precondition Failed:resource-version MISMATCH "
        "for update of %1", "variables": [path]}}}


class AAIServer(_RecordingServer):
    """An A&AI stand-in answering cloud-region look-ups from a dict.

    A region's esr-system-info entries (`set_esr`) are answered at
    `.../cloud-region/{owner}/{region}/esr-system-info-list` (404 when it has
    none, as A&AI answers an empty list), one of them at
    `.../esr-system-info-list/esr-system-info/{id}`, and inline in the region's
    record when asked with `?depth=1` or `?depth=all` (not at depth 0, A&AI's
    default).

    `mode` switches the answer for every request: "ok" (the dict; 404 when the
    region is unknown), "garbage" (200 with a non-JSON body), "error" (500),
    "unauthorized" (401), "forbidden" (403) or "hang" (no answer until the mode
    changes or the server stops). `go_down()` closes the port (connections
    refused) until `come_up()`. `delay` seconds pass before each answer.

    Objects below a region (tenants, flavors, images, availability zones and
    their children: `.../cloud-region/{o}/{r}/flavors/flavor/{id}/...`) and
    pservers (`/cloud-infrastructure/pservers/pserver/{h}`) are kept in
    `objects` (by their path below /cloud-infrastructure/, as sent) with A&AI's
    REST rules: PUT creates (201) or, with the stored resource-version in the
    body, replaces (200) an object whose parent exists (404 otherwise); a PUT
    of a new object with a resource-version, or of an existing one without
    the stored one, is 412; DELETE needs `?resource-version=` matching (412)
    and takes what is below the object; GET of an object answers it with its
    children nested when asked with `?depth=`, GET of a container (`.../flavors`)
    `{"flavor": [...]}`, 404 when empty; the region's GET with `?depth=` nests
    them too. Every write gets a new resource-version.
    """

    MODES = ("ok", "garbage", "error", "unauthorized", "forbidden", "hang")

    def __init__(self, regions: dict[tuple[str, str], dict] | None = None) -> None:
        super().__init__()
        self.regions: dict[tuple[str, str], dict] = dict(regions or {})
        self.esr: dict[tuple[str, str], list[dict]] = {}
        self.objects: dict[str, dict] = {}
        self._versions = itertools.count(1700000000000)
        self.mode = "ok"
        self.delay = 0.0
        self._unhang = threading.Event()
        self._down: socket.socket | None = None
        # Cleared: answers wait (normally answered once set again), so a test
        # can hold a lookup in flight for as long as it needs.
        self.gate = threading.Event()
        self.gate.set()

    def put_record(self, owner: str, region: str, record: dict) -> None:
        """Serve `record` as it is for this region (e.g. one missing a field)."""
        with self._lock:
            self.regions[(owner, region)] = record

    def set_esr(self, owner: str, region: str, *entries: dict) -> None:
        """The region's esr-system-info entries (none: the list is gone)."""
        with self._lock:
            if entries:
                self.esr[(owner, region)] = [dict(e) for e in entries]
            else:
                self.esr.pop((owner, region), None)

    def go_down(self) -> None:
        """Stop serving; the port stays bound but not listening: connections refused."""
        super().stop()
        self._down = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._down.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._down.bind((LOCALHOST, self.port))

    def come_up(self) -> None:
        """Serve again on the same port."""
        assert self._down is not None, "not down"
        self._down.close()
        self._down = None
        handler = self._httpd.RequestHandlerClass
        self._httpd = _QuietThreadingServer((LOCALHOST, self.port), handler)
        self.start()

    def stop(self) -> None:
        self._unhang.set()
        self.gate.set()
        if self._down is not None:
            self._down.close()
            self._down = None
            return
        super().stop()

    def add_region(self, owner: str, region: str, cloud_type: str, version: str) -> None:
        with self._lock:
            self.regions[(owner, region)] = aai_region_record(owner, region, cloud_type, version)

    def set_mode(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(mode)
        self.mode = mode
        if mode == "hang":
            self._unhang.clear()
        else:
            self._unhang.set()  # lets hanging answers go

    def remove_region(self, owner: str, region: str) -> None:
        with self._lock:
            del self.regions[(owner, region)]
            self.esr.pop((owner, region), None)

    def _respond(self, handler: _RecordingHandler, recorded: RecordedRequest) -> None:
        json_type = [("Content-Type", "application/json")]
        if self._down is not None:  # a kept-alive connection from before go_down()
            handler.close_connection = True
            return
        if self.delay:
            time.sleep(self.delay)
        self.gate.wait(60)
        if self.mode == "garbage":
            handler.send_reply(200, b"<html>this is not JSON{", [("Content-Type", "text/html")])
            return
        if self.mode == "error":
            handler.send_reply(500, b'{"requestError": {"serviceException": '
                                    b'{"messageId": "SVC3002", "text": "Error"}}}', json_type)
            return
        if self.mode in ("unauthorized", "forbidden"):
            status = 401 if self.mode == "unauthorized" else 403
            handler.send_reply(status, b'{"requestError": {"policyException": '
                                       b'{"messageId": "POL3300", "text": "Denied"}}}',
                               json_type + [("WWW-Authenticate", 'Basic realm="aai"')])
            return
        if self.mode == "hang":
            self._unhang.wait(60)
            handler.close_connection = True
            return
        match = _AAI_REGION_PATH.match(recorded.path)
        esr_match = _AAI_ESR_PATH.match(recorded.path)
        below = _AAI_BELOW.match(recorded.path)
        if below and not esr_match and match is None:  # a region's object, or a pserver
            status, answer = self._object(recorded.method, below["rest"], recorded)
            handler.send_reply(status, json.dumps(answer).encode() if answer else b"",
                               json_type if answer else [])
            return
        with self._lock:
            record = match and self.regions.get((match["owner"], match["region"]))
            if esr_match:
                key = (esr_match["owner"], esr_match["region"])
                entries = self.esr.get(key, []) if key in self.regions else []
                if esr_match["esr_id"] is not None:
                    entries = [e for e in entries
                               if e.get("esr-system-info-id") == esr_match["esr_id"]]
                    record = entries[0] if entries else None
                else:
                    record = {"esr-system-info": entries} if entries else None
            elif record and re.search(r"(^|&)depth=(all|[1-9])", recorded.query):
                entries = self.esr.get((match["owner"], match["region"]))
                if entries:
                    record = dict(record, **{"esr-system-info-list":
                                             {"esr-system-info": entries}})
                record = self._nested(below["rest"], record, _levels(recorded.query))
        if recorded.method != "GET" or not record:
            handler.send_reply(404, json.dumps({"requestError": {"serviceException": {
                "messageId": "ERR.5.4.6114",
                "text": "Node Not Found:No Node of type cloud-region found at: %1",
                "variables": [recorded.path]}}}).encode(), json_type)
            return
        handler.send_reply(200, json.dumps(record).encode(), json_type)

    def objects_under(self, prefix: str) -> dict[str, dict]:
        """The stored objects at or below a path (below /cloud-infrastructure/)."""
        with self._lock:
            return {k: dict(v) for k, v in self.objects.items()
                    if k == prefix or k.startswith(prefix + "/")}

    def _object(self, method: str, rest: str, recorded: RecordedRequest) -> tuple[int, Any]:
        """A&AI's answer to a call on an object (or a container) at `rest`."""
        with self._lock:
            parts = rest.split("/")
            found = self.objects.get(rest)
            if method == "GET":
                return self._get_object(rest, found, recorded)
            if method == "PUT":
                if not self._parent_exists(parts):
                    return _aai_missing(recorded.path)
                try:
                    body = json.loads(recorded.body)
                except ValueError:
                    return 400, {"requestError": {"serviceException": {
                        "messageId": "SVC0002", "text": "Invalid input"}}}
                given = body.get("resource-version")
                if (found is None and given is not None) or \
                        (found is not None and given != found.get("resource-version")):
                    return _aai_precondition(recorded.path)
                body["resource-version"] = str(next(self._versions))
                self.objects[rest] = body
                return (201 if found is None else 200), None
            if method == "DELETE":
                if found is None:
                    return _aai_missing(recorded.path)
                wanted = re.search(r"(?:^|&)resource-version=([^&]*)", recorded.query)
                if not wanted or wanted.group(1) != found.get("resource-version"):
                    return _aai_precondition(recorded.path)
                for k in [k for k in self.objects if k == rest or k.startswith(rest + "/")]:
                    del self.objects[k]
                return 204, None
            return 405, None

    def _get_object(self, rest: str, found: dict | None,
                    recorded: RecordedRequest) -> tuple[int, Any]:
        levels = _levels(recorded.query)
        if found is not None:
            return 200, self._nested(rest, found, levels)
        # A container (`.../flavors`): the objects right below it.
        items: dict[str, list] = {}
        for k, v in sorted(self.objects.items()):
            if k.rsplit("/", 2)[0] == rest:
                items.setdefault(k.split("/")[-2], []).append(self._nested(k, v, levels))
        return (200, items) if items else _aai_missing(recorded.path)

    def _parent_exists(self, parts: list[str]) -> bool:
        if parts[0] == "pservers":
            return len(parts) == 3
        if parts[0] != "cloud-regions" or len(parts) < 7 or (len(parts) - 4) % 3:
            return False
        region = (unquote(parts[2]), unquote(parts[3]))
        parent = "/".join(parts[:-3])
        return region in self.regions and (len(parts) == 7 or parent in self.objects)

    def _nested(self, rest: str, doc: dict, levels: float) -> dict:
        """`doc` with its stored children nested, `levels` deep."""
        doc = dict(doc)
        if levels < 1:
            return doc
        depth = rest.count("/") + 3
        for k, child in sorted(self.objects.items()):
            if k.startswith(rest + "/") and k.count("/") == depth:
                container, kind = k.split("/")[-3:-1]
                doc.setdefault(container, {}).setdefault(kind, []).append(
                    self._nested(k, child, levels - 1))
        return doc

    @staticmethod
    def basic_auth(recorded: RecordedRequest) -> tuple[str, str] | None:
        """(username, password) from a request's Authorization header, if basic."""
        value = recorded.headers.get("Authorization", "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


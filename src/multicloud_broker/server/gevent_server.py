"""The second serving backend: gevent's WSGI server (gevent.pywsgi) with
the broker's connection rules, in an oslo.service service.

It keeps what the eventlet backend (service.py, protocol.py, body.py) does
to every connection; what both share lives in http_rules.py:

- A connection costs a greenlet from a pool of `max_connections`; beyond,
  a new connection gets a JSON 503 at once, over TLS after a short
  handshake (gevent's own pool would stop accepting instead). A request
  slot (`wsgi_pool_size`) is taken only once a whole, well-framed request
  head has arrived.
- The head must arrive within `client_header_timeout` (408 JSON, close); a
  kept-alive connection may idle `keepalive_timeout` (then closed
  silently); each body read waits at most `client_body_timeout`.
- Heads are read by the same rules (plain fast path, else line by line,
  400/414/431 JSON); ambiguous framing gets 400 and a close.
- While a request is answered, a client that closes its connection (plain
  or TLS) is noticed, and the request abandoned.
- The answer is framed as eventlet frames it (Date, Connection: close or
  keep-alive, chunked when unsized on HTTP/1.1, a bare 500 on app errors).
- On stop: every accepted connection is served once more with
  `Connection: close`, idle kept-alive ones are closed, within
  `graceful_shutdown_timeout`.

Runs in a process that called gevent.monkey.patch_all() first. Imports no
eventlet, directly or through other modules (hence its own TLS wrapping:
sockets.wrap_tls is eventlet's).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from email.utils import formatdate
from urllib.parse import unquote

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import gevent.socket
import gevent.ssl
from gevent.pywsgi import WSGIHandler, WSGIServer
from oslo_config import cfg
from oslo_service.backend.base import ServiceBase

from multicloud_broker.core import health
from multicloud_broker.core.errors import ClientGone
from multicloud_broker.core.http import WATCH_CLIENT
from multicloud_broker.server.access_log import AccessLog, open_access_log
from multicloud_broker.server.framing import FramingError, check_body_framing
from multicloud_broker.server.http_rules import (ACCEPT_RETRY, BODY, CONTINUE,
                                                 REFUSING_TLS_AT_ONCE, WATCH_RECHECK,
                                                 ConnectionBound, ConnectionRules, Head,
                                                 StrictBody, WorkerLimits, client_gone,
                                                 configured_limits, connection_limit,
                                                 has_pending_bytes, log_nothing, parse_head,
                                                 plain_head_fields)
from multicloud_broker.server.launchers import report_serving, stop_being_ready, tune_gc

LOG = logging.getLogger(__name__)

_BODYLESS = (204, 304)


_date = [-1, b""]  # the second last formatted, and its Date line


def _date_line() -> bytes:
    """`Date: <IMF-fixdate>` of now, formatted once per second (it cost as
    much as the rest of the head)."""
    second = int(time.time())
    if second != _date[0]:
        _date[1] = b"Date: %s\r\n" % formatdate(second, usegmt=True).encode()
        _date[0] = second
    return _date[1]


class Limits(WorkerLimits):
    """One gevent worker's limits (see WorkerLimits), and whether answers
    may keep their connection (False: wsgi_keep_alive off)."""

    def __init__(self, *, request_slots: int, keepalive: float | bool, **bounds):
        super().__init__(gevent.lock.Semaphore(request_slots), **bounds)
        self.keepalive = keepalive

    def begin_drain(self) -> int:
        """From now on answers close their connection; idle kept-alive
        connections with nothing pending are closed now. How many were."""
        self.stopping = True
        closed = 0
        for handler in list(self.idle):
            conn = handler.socket
            if conn is None or not has_pending_bytes(conn):
                _shutdown(conn)  # its reader sees EOF
                closed += 1
        return closed


def _shutdown(conn) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass


class Connections(ConnectionBound):
    """A greenlet per connection up to `size`; beyond, the connection is
    answered 503 and closed at once, so accepting never pauses and the
    connections in service never slow (gevent's Pool as a server's spawn
    would stop accepting while full); over TLS the handshake and the 503
    run in a greenlet of their own."""

    def __init__(self, size: int, log_refusal: Callable = log_nothing,
                 tls: gevent.ssl.SSLContext | None = None):
        super().__init__(size, log_refusal)
        self.pool = gevent.pool.Pool(size)
        self._tls = tls
        self._refusing = gevent.pool.Pool(REFUSING_TLS_AT_ONCE)

    def spawn(self, func: Callable, *args) -> None:
        """The server's spawn: `args` are (handle, close, (socket, address))."""
        if not self.pool.full():
            self.pool.spawn(func, *args)
            return
        sock, address = args[-1]
        client = _host_port(address)[0]
        if self._tls is None:
            self._answer_plain(sock._sock, client)
        elif not self._refusing.full():
            self._refusing.spawn(self._refuse_tls, sock, client)
            return
        else:
            self._unanswered(client)
        sock.close()

    def running(self) -> int:
        return len(self.pool)

    def _refuse_tls(self, sock, client: str) -> None:
        conn = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            self._answer_tls(conn, client)
        finally:
            _shutdown(conn)
            conn.close()

    def _deadline(self, seconds: float) -> gevent.Timeout:
        return gevent.Timeout.start_new(seconds)


class RequestBody(StrictBody):
    """`wsgi.input`: http_rules' strict body over the connection, with the
    100 Continue sent when the app first reads (unless it answered first)."""

    def __init__(self, handler: BrokerHandler, content_length: int | None, chunked: bool,
                 expect_continue: bool):
        limits = handler.limits
        self._handler = handler
        self.continue_pending = expect_continue
        self._init_body(handler.rfile, handler.socket, content_length, chunked,
                        limits.body_timeout, limits.socket_timeout, handler._body_failed)

    def _continue_due(self) -> bool:
        return self.continue_pending

    def _send_continue(self) -> None:
        self.continue_pending = False
        if not self._handler.headers_sent:  # too late once the answer has begun
            self._handler.socket.sendall(CONTINUE)

    def readlines(self, hint: int | None = None) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.read, b"")


class BrokerHandler(ConnectionRules, WSGIHandler):
    """gevent's WSGI handler with the broker's connection rules: its own
    connection loop, head reading, environ and answer framing; gevent's
    server, sockets and pool underneath."""

    limits: Limits  # set by handler_class()
    body: RequestBody | None = None
    served = 0

    def __init__(self, sock, address, server):
        # No gevent rfile yet: set up in handle(), after the socket's options.
        self.socket = self.connection = sock
        self.client_address = address
        self.server = server

    # -- the connection ------------------------------------------------
    def handle(self) -> None:
        conn = self.socket
        limits = self.limits
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, True)
        except (OSError, AttributeError):
            pass
        conn.settimeout(limits.socket_timeout)
        self.rfile = conn.makefile("rb", -1)
        try:
            while True:
                self.handle_one_request()
                self.served += 1
                if self.close_connection or limits.stopping:
                    break
                gevent.sleep(0)  # the others' turn before this client's next request
        finally:
            self.rfile.close()
            _shutdown(conn)
            conn.close()
            self.environ = self.body = None

    def handle_one_request(self) -> None:
        self.close_connection = True  # until a whole request head is in
        if self.served and not self._next_request_arrives():
            return
        head = self._read_head()
        if head is None:
            return
        self._take(head)
        try:
            check_body_framing(self.headers, self.request_version)
        except FramingError as exc:
            self._refuse(400, str(exc))
            return
        if self.limits.stopping:
            self.close_connection = True
        self.environ = self.get_environ(head.expect_continue)
        with self.limits.slots:  # taken only now: waiting clients hold no slot
            self._respond()
        # Nothing of this request kept while the connection idles.
        self.environ = self.headers = self.body = None

    def _take(self, head: Head) -> None:
        self.raw_requestline = head.raw_requestline
        self.command, self.path = head.command, head.path
        self.request_version, self.requestline = head.request_version, head.requestline
        self.headers, self.close_connection = head.headers, head.close_connection

    # -- the head ------------------------------------------------------
    def _take_plain(self, plain: re.Match) -> Head:
        return plain_head_fields(plain, self.protocol_version)

    def _parse_head(self, request_line: bytes) -> Head | None:
        return parse_head(request_line, self.rfile, self.limits, self.protocol_version)

    def _deadline(self, seconds: float) -> gevent.Timeout:
        return gevent.Timeout.start_new(seconds)

    # -- the environ ---------------------------------------------------
    def get_environ(self, expect_continue: bool = False) -> dict:
        """The environ as the eventlet backend builds it: raw path and
        headers kept (RAW_PATH_INFO, headers_raw), a checked body."""
        env = self.server.get_environ()
        env["REQUEST_METHOD"] = self.command
        path, query = (self.path.split("?", 1) + [None])[:2]
        env["RAW_PATH_INFO"] = path  # the path as written, for core and the access log
        env["PATH_INFO"] = unquote(path, encoding="latin1")
        if query is not None:
            env["QUERY_STRING"] = query
        headers = self.headers
        env["CONTENT_TYPE"] = headers.get("content-type") or headers.get_content_type()
        length = headers.get("content-length")
        if length:  # checked decimal, maybe with spaces around
            env["CONTENT_LENGTH"] = length.strip(" \t")
        env["SERVER_PROTOCOL"] = self.request_version
        try:
            env["SERVER_NAME"], env["SERVER_PORT"] = _host_port(self.socket.getsockname())
        except OSError:
            pass
        env["REMOTE_ADDR"], env["REMOTE_PORT"] = _host_port(self.client_address)
        env["headers_raw"] = raw = tuple((name, value.strip(" \t\n\r"))
                                         for name, value in headers._headers)
        for name, value in raw:
            if "_" in name:  # would read as another header once in CGI form
                continue
            key = name.replace("-", "_").upper()
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                continue
            key = "HTTP_" + key
            env[key] = f"{env[key]},{value}" if key in env else value
        chunked = env.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        size = int(length) if length and not chunked else 0
        self.body = body = RequestBody(self, size if not chunked else None, chunked,
                                       expect_continue)
        env["wsgi.input"] = env[BODY] = body
        env["wsgi.input_terminated"] = True
        env[WATCH_CLIENT] = self._watch_client
        return env

    def _watch_client(self) -> Callable[[], None]:
        """Arm a watch on the client connection for the calling request: if
        the client closes it, ClientGone is raised in the request's
        greenlet. Returns the disarm function. Only while nothing else reads
        the connection."""
        conn, request = self.socket, gevent.getcurrent()
        armed = [True]

        def gone() -> None:
            if armed[0]:  # the request may have moved on meanwhile
                request.throw(ClientGone())

        def watch() -> None:
            while True:
                try:
                    gevent.socket.wait_read(conn.fileno())
                except OSError:
                    return  # closed under the watch: the request is over
                if client_gone(conn):
                    gevent.get_hub().loop.run_callback(gone)
                    return
                gevent.sleep(WATCH_RECHECK)  # bytes wait unread: readable again at once

        watcher = gevent.spawn(watch)

        def disarm() -> None:
            armed[0] = False
            # Waited for: its watch on the descriptor must end before the
            # connection is read again, or closed.
            watcher.kill()
        return disarm

    # -- the answer ----------------------------------------------------
    def _respond(self) -> None:
        try:
            self.handle_one_response()
        except ClientGone:
            self.close_connection = True
            LOG.info("client %s went away before its answer; request abandoned",
                     self.client_address[0])
        except OSError as exc:
            # A client gone or too slow to take its answer: nothing to send.
            self.close_connection = True
            LOG.debug("client %s: connection lost while answering: %s",
                      self.client_address, exc)

    def handle_one_response(self) -> None:
        """Run the app and send its answer, framed as eventlet frames it."""
        self.status = None
        self.headers_sent = False
        self.response_use_chunked = False
        self.response_length = 0
        body = self.body
        result = None
        try:
            try:
                result = self.application(self.environ, self.start_response)
                if (self.status is not None and not self.headers_sent
                        and hasattr(result, "__len__")):
                    # A complete answer: sized, and no 100 Continue needed any more.
                    if not self._bodyless and "Content-Length" not in (
                            name for name, _ in self._app_headers):
                        self._app_headers.append(
                            ("Content-Length", str(sum(map(len, result)))))
                    if body.continue_pending:
                        self.close_connection = True
                for data in result:
                    if data:
                        self.write(data)
                if not self.headers_sent:
                    self.write(b"")
                if self.response_use_chunked:
                    self.socket.sendall(b"0\r\n\r\n")
            except Exception:  # the app failed: a bare 500 if nothing was sent yet
                self.close_connection = True
                LOG.debug("app error: %s", traceback.format_exc())
                if not self.headers_sent:
                    self.start_response("500 Internal Server Error",
                                        [("Content-type", "text/plain"), ("Content-length", "0")])
                    self.write(b"")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            if body.continue_pending:
                # The answer went out without a 100 Continue: the client may or
                # may not send its body now; only a close leaves no doubt.
                self.close_connection = True
            if not self.close_connection and (
                    body.chunked_input or body.position < (body.content_length or 0)):
                body.discard()  # read what the app left, or close (_body_failed)

    @property
    def application(self):
        return self.server.application

    def start_response(self, status: str, headers: list, exc_info=None):
        if exc_info:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        code = int(status.split(" ", 1)[0])
        self.code = code
        self.status = status
        self._app_headers = list(headers)
        # No body is framed for these (RFC 9112 6.3).
        self._bodyless = code in _BODYLESS or self.command == "HEAD" or 100 <= code < 200
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() before start_response()")
        out = self._head() if not self.headers_sent else b""
        if self.response_use_chunked:
            if data:
                out += b"%x\r\n%b\r\n" % (len(data), data)
        else:
            out += data
        if out:
            self.socket.sendall(out)
        self.response_length += len(data)

    def _head(self) -> bytes:
        """The status line and headers, decided as eventlet decides them."""
        self.headers_sent = True
        lines = [f"{self.protocol_version} {self.status}\r\n".encode("latin-1")]
        names = set()
        for name, value in self._app_headers:
            lines.append(_header_line(name, value))
            names.add(name.lower())
        if "date" not in names:
            lines.append(_date_line())
        client = self.headers.get("Connection", "").lower()
        keepalive = self.limits.keepalive
        send_keep_alive = False
        if not self.close_connection and keepalive and (
                client == "keep-alive"
                or self.request_version == "HTTP/1.1" and client != "close"):
            send_keep_alive = client == "keep-alive"  # redundant for 1.1 otherwise
        else:
            self.close_connection = True
        if "content-length" not in names and not self._bodyless:
            if self.request_version == "HTTP/1.1":
                self.response_use_chunked = True
                lines.append(b"Transfer-Encoding: chunked\r\n")
            else:
                self.close_connection = True  # HTTP/1.0 reads to the close
        if self.close_connection:
            lines.append(b"Connection: close\r\n")
        elif send_keep_alive:
            lines.append(b"Connection: keep-alive\r\n")
            if not isinstance(keepalive, bool) and int(keepalive):
                lines.append(b"Keep-Alive: timeout=%d\r\n" % int(keepalive))
        lines.append(b"\r\n")
        return b"".join(lines)

    def log_request(self) -> None:
        pass  # the access log is the app's middleware (AccessLog)

    # -- answers of the server's own -------------------------------------
    def _send(self, data: bytes) -> None:
        self.close_connection = True
        try:
            self.socket.sendall(data)
        except OSError:
            pass


def _header_line(name: str, value) -> bytes:
    """`name: value\\r\\n` in latin-1 (PEP 3333); CR or LF in either is an app error."""
    name, value = str(name), str(value)
    if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
        raise ValueError(f"CR or LF in response header {name!r}")
    return f"{name}: {value}\r\n".encode("latin-1")


def _host_port(address) -> tuple[str, str]:
    if isinstance(address, tuple):
        return str(address[0]), str(address[1])
    return str(address), ""


class BrokerServer(WSGIServer):
    """gevent's WSGI server: connections spawned through `Connections`
    (503 beyond the limit), accept retried when descriptors run out, TLS
    handshakes in the connection's greenlet under its header deadline."""

    def __init__(self, listener, app: Callable, limits: Limits, connections: Connections,
                 tls: gevent.ssl.SSLContext | None):
        self._tls = tls
        self._accept_logged_at = 0.0
        handler = type("BrokerHandler", (BrokerHandler,), {"limits": limits})
        # SERVER_NAME/PORT given: gevent would resolve the host's FQDN at start.
        super().__init__(listener, app, spawn=connections.spawn, log=None,
                         error_log=_QuietLog(), handler_class=handler,
                         environ={"SERVER_NAME": "", "SERVER_PORT": "",
                                  "wsgi.multithread": True, "wsgi.errors": sys.stderr})
        if tls is not None:
            self.environ["wsgi.url_scheme"] = "https"

    def do_read(self):
        try:
            return super().do_read()
        except OSError as exc:
            if exc.errno not in ACCEPT_RETRY:
                raise
            now = time.monotonic()
            if now - self._accept_logged_at >= 10:
                LOG.error("cannot accept connections: %s; retrying", exc.strerror)
                self._accept_logged_at = now
            # Accepting pauses 0.1 s, then resumes (gevent's own back-off logs a traceback).
            self.stop_accepting()
            self._timer = self.loop.timer(0.1)
            self._timer.start(self._start_accepting_if_started)
            return None

    def handle(self, sock, address) -> None:
        if self._tls is not None:
            # The handshake happens at the first read, within the header deadline.
            sock = self._tls.wrap_socket(sock, server_side=True,
                                         do_handshake_on_connect=False)
        self.handler_class(sock, address, self).handle()


class _QuietLog:
    """gevent's own per-connection messages go to debug level."""

    def write(self, msg: str) -> None:
        LOG.debug("%s", msg.rstrip())

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


def _tls_context(conf: cfg.ConfigOpts) -> gevent.ssl.SSLContext | None:
    """The server's TLS context when [ssl] enabled (checked at start-up)."""
    if not conf.ssl.enabled:
        return None
    context = gevent.ssl.create_default_context(gevent.ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(conf.ssl.cert_file, conf.ssl.key_file)
    return context


class GeventWSGIService(ServiceBase):
    """Serves a WSGI app on the inherited listening socket, with gevent."""

    def __init__(self, conf: cfg.ConfigOpts, sock: socket.socket,
                 app_factory: Callable[[], Callable]):
        self.conf = conf
        self.sock = sock
        self.app_factory = app_factory
        self._server: BrokerServer | None = None
        self._stopped = gevent.event.Event()

    def start(self) -> None:
        conf = self.conf
        health.set_draining(False)
        self._stopped.clear()
        # Opened at every start: after SIGHUP a rotated log file is reopened.
        # Kept so that whoever stops this service closes the file once drained.
        self.access_log = app = AccessLog(self.app_factory(), open_access_log(conf.access_log),
                                          conf.log_format, conf.access_log_buffer)
        tune_gc()
        self._limits = Limits(
            **configured_limits(conf), log_refusal=app.refused,
            keepalive=(conf.keepalive_timeout or False) if conf.wsgi_keep_alive else False)
        tls = _tls_context(conf)
        self._connections = Connections(connection_limit(conf.max_connections), app.refused,
                                        tls)
        # The server closes the socket it is given when it stops: hand it a
        # duplicate, so the shared socket stays open across reloads.
        listener = self.sock.dup()
        listener.setblocking(False)  # accepted in a loop: one accept too many must not wait
        self._server = BrokerServer(listener, app, self._limits, self._connections, tls)
        self._server.start()
        report_serving(conf, self._limits, self._connections.running, self._connections.size)

    def stop(self, graceful: bool = True) -> None:
        """Stop accepting and drain, within graceful_shutdown_timeout: every
        accepted connection gets its request served (with Connection: close),
        idle kept-alive ones are closed, in-flight requests finish."""
        if self._server is None:
            return
        server, self._server = self._server, None
        try:
            grace = stop_being_ready(self.conf, graceful)
            self._limits.stopping = True
            server.close()  # no more accepting; the listening duplicate closed
            pool = self._connections.pool
            idle = self._limits.begin_drain()
            LOG.info("worker %d draining: %d connection(s) open, %d idle closed",
                     os.getpid(), len(pool), idle)
            if not pool.join(timeout=grace):
                LOG.warning("worker %d: drain not done after %s s; closing %d connection(s)",
                            os.getpid(), grace, len(pool))
                pool.kill(block=True)
        finally:
            self._stopped.set()

    def wait(self) -> None:
        if self._server is not None:
            self._stopped.wait()  # set once stopped and drained

    def reset(self) -> None:
        """After SIGHUP: the next start() builds the app from the new config."""


"""How one worker holds its client connections: cheap, bounded in time, drained.

- A connection costs a green thread from a large pool (`max_connections`);
  a request slot (`wsgi_pool_size`) is taken only once a whole, well-framed
  request head has arrived, so slow or idle clients never hold one.
- The request line and headers must arrive within `client_header_timeout`
  of the connection's start (or of the first byte of a kept-alive request):
  408 and close. Between requests a kept-alive connection may stay idle
  `keepalive_timeout`, then it is closed silently. Body reads wait at most
  `client_body_timeout` each (see body.py).
- Framing that two parsers could read two ways gets 400 and a close (see
  framing.py); every error the server answers itself is JSON.
- Beyond `max_connections`, a new connection gets a 503 at once (over TLS
  after a short handshake).
- While a request is answered, a client that closes its connection (plain
  or TLS) is noticed, and the request abandoned.
- On stop, every accepted connection is served once more (with
  `Connection: close`) unless it is an idle kept-alive one with nothing sent.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable
from http import HTTPStatus

import eventlet
import eventlet.semaphore
from eventlet import greenio, hubs, wsgi

from multicloud_broker.core.errors import ClientGone
from multicloud_broker.core.http import WATCH_CLIENT
from multicloud_broker.server.body import RequestBody
from multicloud_broker.server.framing import FramingError, check_body_framing
from multicloud_broker.server.http_rules import (ACCEPT_RETRY, BODY, REFUSING_TLS_AT_ONCE,
                                                 WATCH_RECHECK, ConnectionBound,
                                                 ConnectionRules, HeadLines, WorkerLimits,
                                                 client_gone, has_pending_bytes, is_tls,
                                                 log_nothing, plain_head_fields)

LOG = logging.getLogger(__name__)

# eventlet's server shuts down connections in its own STATE_IDLE when it
# stops, fresh ones included; ours are never in that state (drain is ours).
STATE_SERVED = "served-by-broker"


class Limits(WorkerLimits):
    """One eventlet worker's limits (see WorkerLimits)."""

    def __init__(self, *, request_slots: int, **bounds):
        super().__init__(eventlet.semaphore.Semaphore(request_slots), **bounds)

    def begin_drain(self) -> int:
        """From now on answers close their connection; idle kept-alive
        connections with nothing pending are closed now. How many were."""
        self.stopping = True
        closed = 0
        for protocol in list(self.idle):
            conn = protocol.connection
            if not has_pending_bytes(conn):
                greenio.shutdown_safe(protocol.connection)  # its reader sees EOF
                closed += 1
        return closed


class ConnectionPool(ConnectionBound):
    """eventlet's `custom_pool`: a green thread per connection up to `size`;
    beyond, the connection is answered 503 and closed without waiting, so
    the accept loop never blocks and the connections in service never slow
    (over TLS the handshake and the 503 run in a green thread of their own)."""

    def __init__(self, size: int, log_refusal: Callable = log_nothing):
        super().__init__(size, log_refusal)
        self._pool = eventlet.GreenPool(size)
        self._refusing = eventlet.GreenPool(REFUSING_TLS_AT_ONCE)

    def spawn(self, func, conn_state: list):
        if self._pool.free():
            conn_state[2] = STATE_SERVED
            return self._pool.spawn(func, conn_state)
        client, conn = conn_state[0][0], conn_state[1]
        if not is_tls(conn):
            self._answer_plain(conn.fd, client)
        elif self._refusing.free():
            # The server's link callback closes the connection once answered.
            return self._refusing.spawn(self._answer_tls, conn, client)
        else:
            self._unanswered(client)
        return _Finished()

    def waitall(self) -> None:
        self._pool.waitall()

    def kill_all(self) -> None:
        """End every connection's green thread (the drain deadline passed)."""
        for thread in list(self._pool.coroutines_running):
            thread.kill()

    def running(self) -> int:
        return self._pool.running()

    def _deadline(self, seconds: float) -> eventlet.Timeout:
        return eventlet.Timeout(seconds)


class Listener:
    """The listening socket as eventlet's server sees it: an accept() that
    waits and retries when descriptors run out (eventlet's loop would end)."""

    def __init__(self, sock):
        self._sock = sock
        self._logged_at = 0.0

    def accept(self):
        while True:
            try:
                return self._sock.accept()
            except OSError as exc:
                if exc.errno not in ACCEPT_RETRY:
                    raise
                now = time.monotonic()
                if now - self._logged_at >= 10:
                    LOG.error("cannot accept connections: %s; retrying", exc.strerror)
                    self._logged_at = now
                eventlet.sleep(0.1)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Finished:
    """Stands for a connection's green thread when none was started: the
    server's link callback (which closes the socket) runs at once."""

    def link(self, callback, *args, **kwargs) -> None:
        callback(self, *args, **kwargs)


class BrokerProtocol(ConnectionRules, wsgi.HttpProtocol):
    """eventlet's HTTP/1.1 protocol with the broker's connection rules."""

    limits: Limits  # set by make_protocol()
    _wfile = None

    def setup(self) -> None:
        # The reader only: the 16 KiB write buffer is made when there is
        # something to write, so an idle or slow connection costs less.
        conn = self.connection = self.request
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, True)
        except (OSError, AttributeError):
            pass
        self.rfile = conn.makefile("rb", self.rbufsize)

    @property
    def wfile(self):
        if self._wfile is None:
            self._wfile = self.connection.makefile("wb", self.wbufsize)
        return self._wfile

    @wfile.setter
    def wfile(self, value) -> None:
        self._wfile = value

    def finish(self) -> None:
        if self._wfile is not None:
            try:
                self._wfile.flush()
                self._wfile.close()
            except OSError:
                pass  # the client is gone: nothing more to send
        self.rfile.close()
        greenio.shutdown_safe(self.connection)
        self.connection.close()

    def handle(self) -> None:
        self.close_connection = True
        self.served = 0
        while True:
            self.handle_one_request()
            self.served += 1
            if self.close_connection or self.limits.stopping:
                break
            eventlet.sleep(0)  # the others' turn before this client's next request

    def handle_one_request(self) -> None:
        self.close_connection = True  # until a whole request head is in
        if self.server.max_http_version:
            self.protocol_version = self.server.max_http_version
        if self.served and not self._next_request_arrives():
            return
        if not self._read_head():
            return
        try:
            check_body_framing(self.headers, self.request_version)
        except FramingError as exc:
            self._refuse(400, str(exc))
            return
        if self.limits.stopping:
            self.close_connection = True
        self.environ = self.get_environ()
        self.application = self.server.app
        with self.limits.slots:  # taken only now: waiting clients hold no slot
            self._respond()
        # The environ and this protocol refer to each other (eventlet's
        # set_idle closure, the body's error callback): without this, each
        # request left a cycle for the garbage collector, and an idle
        # connection kept its last request alive.
        self.environ = self.headers = None

    def _take_plain(self, head: re.Match) -> bool:
        """What parse_request makes of a plain head (see http_rules)."""
        fields = plain_head_fields(head, self.protocol_version)
        self.raw_requestline = fields.raw_requestline
        self.command, self.path = fields.command, fields.path
        self.request_version, self.requestline = fields.request_version, fields.requestline
        self.headers, self.close_connection = fields.headers, fields.close_connection
        if fields.expect_continue:
            return self.handle_expect_100()
        return True

    def _parse_head(self, request_line: bytes) -> bool:
        """parse_request on the head's lines, each checked (HeadLines)."""
        rfile = self.rfile
        self.raw_requestline = request_line
        self.rfile = HeadLines(rfile, self.limits.max_header_line)
        try:
            return self.parse_request()
        finally:
            self.rfile = rfile

    def _deadline(self, seconds: float) -> eventlet.Timeout:
        return eventlet.Timeout(seconds)  # started as it is made

    def _respond(self) -> None:
        server = self.server
        server.outstanding_requests += 1
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
        finally:
            server.outstanding_requests -= 1

    def get_environ(self) -> dict:
        env = super().get_environ()
        limits = self.limits
        if "CONTENT_LENGTH" in env:  # checked decimal, maybe with spaces around
            env["CONTENT_LENGTH"] = env["CONTENT_LENGTH"].strip(" \t")
        given = env["wsgi.input"]
        if given.content_length != 0 or given.chunked_input:  # no body: nothing to read or bound
            env["wsgi.input"] = env["eventlet.input"] = env[BODY] = RequestBody(
                given, limits.body_timeout, limits.socket_timeout, self._body_failed)
        env[WATCH_CLIENT] = self._watch_client
        return env

    def _watch_client(self):
        """Arm a watch on the client connection for the calling request: if
        the client closes it, ClientGone is raised in the request's green
        thread. Returns the disarm function. Only while nothing else reads
        the connection (eventlet allows one reader per socket)."""
        conn, request_thread = self.connection, eventlet.getcurrent()
        armed = [True]

        def gone() -> None:
            if armed[0]:  # the request may have moved on meanwhile
                request_thread.throw(ClientGone())

        def watch() -> None:
            while True:
                try:
                    hubs.trampoline(conn.fileno(), read=True)
                except OSError:
                    return  # closed under the watch: the request is over
                if client_gone(conn):
                    hubs.get_hub().schedule_call_global(0, gone)
                    return
                eventlet.sleep(WATCH_RECHECK)  # bytes wait unread: readable again at once

        watcher = eventlet.spawn(watch)

        def disarm() -> None:
            armed[0] = False
            watcher.kill()
        return disarm

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """parse_request's errors (bad request line, too many headers), as JSON."""
        self._refuse(int(code), message or HTTPStatus(code).phrase)

    def _send(self, data: bytes) -> None:
        """A whole small answer; straight to the socket when nothing is
        buffered (a timed-out head costs no write buffer)."""
        self.close_connection = True
        try:
            if self._wfile is None:
                self.connection.sendall(data)
            else:
                self._wfile.write(data)
                self._wfile.flush()
        except OSError:
            pass


def make_protocol(limits: Limits) -> type[BrokerProtocol]:
    """A protocol class bound to one worker's limits (eventlet instantiates it)."""
    return type("BrokerProtocol", (BrokerProtocol,), {"limits": limits})

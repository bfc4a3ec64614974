"""HTTP/1.1 connections to plugins: pooled, bounded in number, with deadlines.

Why not urllib3: the forwarding path must know whether an answer was read to
its end before a connection goes back to the pool, bound every read and write
by both a step timeout and the call's overall deadline (a plugin trickling a
byte a second must be cut), and cap the connections per plugin. Parsing stays
with the standard library's `http.client.HTTPResponse`.

Blocking socket calls here are green once eventlet has patched `socket`.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import re
import select
import socket
import ssl
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from multicloud_broker.core.http import MAX_HEADERS, TOKEN, header_block_items

# Header names are tokens; values must not carry CR, LF or NUL (RFC 9110 5.5).
_TOKEN = re.compile(TOKEN)
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


class UpstreamError(Exception):
    """The plugin could not be asked, or did not answer properly."""


class Unreachable(UpstreamError):
    """Connecting failed: refused, no route, or no answer within connect_timeout."""


class TooSlow(UpstreamError):
    """The plugin took longer than read_timeout to take the body or to answer."""


class DeadlineExceeded(TooSlow):
    """The call's overall deadline (total_timeout) passed."""


class Busy(UpstreamError):
    """No connection to the plugin came free for this call: every one this
    worker may open is in use, and the queue was full or the plugin stopped
    answering."""


class BadAnswer(UpstreamError):
    """The plugin closed the connection or sent something that is not HTTP."""


class CutShort(UpstreamError):
    """The plugin's body ended before its framing said it would."""


class Deadline:
    """The moment a call must be over by, and the per-step timeout within it."""

    __slots__ = ("at", "step")

    def __init__(self, total: float, step: float):
        self.at = time.monotonic() + total
        self.step = step

    def timeout(self) -> float:
        """The timeout of the next socket operation; DeadlineExceeded if none is left."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("total_timeout passed")
        return self.step if self.step < left else left

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())


class WouldWait(Exception):
    """Nothing arrived, and the read was told not to wait longer (Connection.arrived)."""


class _Raw(io.RawIOBase):
    """The reading side of a connection, each read bounded by the deadline."""

    def __init__(self, conn: "Connection"):
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._conn.recv_into(buffer)


class Connection:
    """One socket to a plugin. `deadline` bounds every operation on it."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None,
                 family: int | None = None):
        self.host, self.port, self.tls = host, port, tls
        self.family = family  # set: host is an IP literal of that address family
        self.sock: socket.socket | None = None
        self.deadline: Deadline | None = None
        self._peek_wait: float | None = None  # set: a read waits at most that long

    def connect(self, timeout: float) -> None:
        try:
            sock = (_connect_literal(self.host, self.port, self.family, timeout)
                    if self.family is not None
                    else socket.create_connection((self.host, self.port), timeout=timeout))
        except OSError as exc:  # refused, unreachable, timed out: all "cannot reach"
            raise Unreachable(_reason(exc)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                raise Unreachable(f"TLS: {_reason(exc)}") from None
        self.sock = sock

    def alive(self) -> bool:
        """True if the idle connection is still open and has nothing unread.

        Bytes waiting on an idle connection are a late or excess answer;
        sending a request on it would pair the request with them.
        """
        sock = self.sock
        if sock is None:
            return False
        try:
            sock.settimeout(0)
            if isinstance(sock, ssl.SSLSocket):
                return not _has_input(sock)
            sock.recv(1, socket.MSG_PEEK)  # returns b"" (closed) or bytes (garbage)
            return False
        except BlockingIOError:
            return True
        except OSError:
            return False

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.deadline.timeout())
        self.sock.sendall(data)

    def recv_into(self, buffer) -> int:
        if self._peek_wait is not None and not _has_input(self.sock, self._peek_wait):
            raise WouldWait()
        self.sock.settimeout(self.deadline.timeout())
        return self.sock.recv_into(buffer)

    def has_input(self, wait: float = 0.0) -> bool:
        """Bytes, or the end, wait on the socket itself (or do within `wait` s)."""
        return _has_input(self.sock, wait)

    def arrived(self, reader: io.BufferedReader, wait: float = 0.0) -> bool:
        """True when reading from `reader` (made by makefile()) would not wait
        for the plugin: bytes are buffered or have arrived (within `wait` s),
        or the end has."""
        self._peek_wait = wait
        try:
            reader.peek(1)  # a read from the socket only when nothing is buffered
            return True
        except WouldWait:  # raised before anything was read: nothing is lost
            return False
        finally:
            self._peek_wait = None

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        # http.client.HTTPResponse reads through this.
        return io.BufferedReader(_Raw(self), 64 * 1024)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


def _ip_family(host: str) -> int | None:
    """AF_INET or AF_INET6 if `host` is an IP literal; None for a name."""
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return None
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def _connect_literal(host: str, port: int, family: int, timeout: float) -> socket.socket:
    # An address needs no resolver. create_connection() would still call
    # getaddrinfo, which gevent runs in a pool of 10 native threads: under
    # load, new plugin connections waited seconds for it in batches of ten.
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _has_input(sock: socket.socket, wait: float = 0.0) -> bool:
    """Bytes (or the end) to read now, or within `wait` s: decrypted ones TLS
    holds, or on the socket."""
    if isinstance(sock, ssl.SSLSocket):
        return sock.pending() > 0 or bool(select.select([sock], [], [], wait)[0])
    # A peek under the socket's own (green) timeout, not select(): gevent's
    # select() refuses descriptors above FD_SETSIZE (1024), which a worker
    # holding many connections has.
    previous = sock.gettimeout()
    try:
        sock.settimeout(wait)
        sock.recv(1, socket.MSG_PEEK)
        return True  # bytes, or b"": the end
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True  # a reset: reading will say so
    finally:
        sock.settimeout(previous)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def plugin_bounds(request_slots: int, max_connections: int | None = None) -> tuple[int, int]:
    """(connections, queued calls) one worker allows per plugin, from its
    request slots (wsgi_pool_size).

    Connections default to half the slots. Calls beyond them may queue until
    the plugin's calls, connected or queued, hold nine tenths of the slots;
    more only while the plugin answers (PluginPool). A plugin that hangs
    thus leaves a tenth to the others, whose quick calls need few, while a
    healthy one may have every request of the worker in flight.
    """
    connections = max_connections or max(1, request_slots // 2)
    share = request_slots - max(1, request_slots // 10)
    return connections, max(0, share - connections)


class PluginPool:
    """The connections of one worker to one plugin base URL.

    At most `max_connections` are open (in use or idle). Calls beyond queue
    for one, first come first served (a returned connection is handed to the
    oldest waiter, so newcomers cannot overtake it): `max_waiting` of them,
    or more while the plugin answers (its last answer within the caller's
    patience); beyond, Busy at once. A queued call gives up (Busy) once the
    plugin has not answered for that patience. Idle connections are kept
    only after their answer was read to the end.
    """

    def __init__(self, base: str, max_connections: int, max_idle: int, max_waiting: int = 0):
        parts = urlsplit(base)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.tls else 80)
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        self.host_header = host if self.port == default else f"{host}:{self.port}"
        self.prefix = parts.path.rstrip("/")  # a base URL may carry a path
        self.family = _ip_family(self.host)
        self.max_connections = max_connections
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._in_use = 0  # connections handed out (a turn passed on stays counted)
        self._queue: deque[threading.Event] = deque()  # waiting calls, oldest first
        self._answered_at = float("-inf")  # when the plugin last sent an answer's head
        self._idle: list[Connection] = []
        self._max_idle = min(max_idle, max_connections)

    def acquire(self, patience: float, until: float) -> Connection:
        """A connection to use (idle or new, not yet connected).

        A call that must queue waits while the plugin keeps answering; Busy
        once it has not answered for `patience` s (it hangs) or at `until`
        (time.monotonic()), or at once if the queue is full.
        """
        self._take_turn(patience, until)
        while self._idle:
            conn = self._idle.pop()
            if conn.alive():
                return conn
            conn.close()
        return Connection(self.host, self.port, self.tls, self.family)

    def answered(self) -> None:
        """The plugin sent an answer's head: it is alive, its queue may move."""
        self._answered_at = time.monotonic()

    def release(self, conn: Connection, reusable: bool) -> None:
        """Give a connection back: kept if `reusable`, else closed."""
        try:
            if reusable and conn.sock is not None and len(self._idle) < self._max_idle:
                conn.deadline = None
                self._idle.append(conn)
            else:
                conn.close()
        finally:
            self._pass_turn()

    def _take_turn(self, patience: float, until: float) -> None:
        with self._lock:
            if self._in_use < self.max_connections and not self._queue:
                self._in_use += 1
                return
            since = time.monotonic()
            # Beyond its share of request slots only while the plugin answers:
            # one that hangs must not take the slots other plugins need.
            if (len(self._queue) >= self.max_waiting
                    and since - self._answered_at > patience):
                raise Busy(f"all {self.max_connections} connections in use and "
                           f"{len(self._queue)} calls waiting for one")
            turn = threading.Event()
            self._queue.append(turn)
        try:
            self._wait_turn(turn, since, patience, until)
        except BaseException:
            # Given up, or interrupted (a green timeout, the worker stopping):
            # a turn handed over meanwhile must not be lost with this call.
            with self._lock:
                granted = turn.is_set()
                if not granted:
                    self._queue.remove(turn)
            if granted:
                self._pass_turn()
            raise

    def _wait_turn(self, turn: threading.Event, since: float, patience: float,
                   until: float) -> None:
        while not turn.wait(max(0.0, self._give_up_at(since, patience, until)
                                - time.monotonic())):
            now = time.monotonic()
            if now < self._give_up_at(since, patience, until):
                continue  # the plugin answered meanwhile: the queue moves
            if now >= until:
                raise Busy(f"no connection free within the total deadline "
                           f"(waited {now - since:.1f} s)")
            raise Busy(f"all {self.max_connections} connections in use and no "
                       f"answer for {patience:g} s (waited {now - since:.1f} s)")

    def _give_up_at(self, since: float, patience: float, until: float) -> float:
        return min(max(since, self._answered_at) + patience, until)

    def _pass_turn(self) -> None:
        """A connection is given back: to the oldest waiting call, if any."""
        with self._lock:
            if self._queue:
                self._queue.popleft().set()
            else:
                self._in_use -= 1


def encode_head(method: str, target: str, host: str,
                headers: list[tuple[str, str]]) -> bytes:
    """The request line and header block; ValueError on a header that cannot be sent."""
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), b"Host: " + host.encode("idna")]
    for name, value in headers:
        raw_name, raw_value = name.encode("latin-1"), value.encode("latin-1")
        if not _TOKEN.fullmatch(raw_name) or _BAD_VALUE.search(raw_value):
            raise ValueError(f"header {name!r} cannot be forwarded")
        lines.append(raw_name + b": " + raw_value)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


# An answer head as plugins send it: HTTP/1.x, a final status, token:value
# header lines without CR, LF or NUL (at most MAX_HEADERS), a blank line.
_PLAIN_ANSWER_HEAD = re.compile(
    rb"HTTP/1\.(?P<minor>[01]) (?P<status>[2-5][0-9][0-9])(?: (?P<reason>[^\r\n\x00]*))?\r\n"
    rb"(?P<headers>(?:%s:[^\r\n\x00]*\r\n){0,%d})\r\n" % (TOKEN, MAX_HEADERS))


def take_plain_head(response: http.client.HTTPResponse, method: str) -> bool:
    """Read a plain answer head that has arrived whole into `response`, as
    its begin() would, without the email parser begin() uses (a large share
    of a forwarded call's cost); False (nothing read) for any other head,
    which begin() then reads."""
    data = response.fp.peek(1)
    end = data.find(b"\r\n\r\n") + 4
    head = _PLAIN_ANSWER_HEAD.fullmatch(data, 0, end) if end > 3 else None
    if head is None:
        return False
    response.fp.read(end)
    minor, status, reason, block = head.group("minor", "status", "reason", "headers")
    headers = http.client.HTTPMessage()
    headers._headers = header_block_items(block)
    response.headers = response.msg = headers
    response.code = response.status = int(status)
    response.reason = (reason or b"").decode("latin-1").strip()
    response.version = 11 if minor == b"1" else 10
    encoding = headers.get("transfer-encoding")
    response.chunked = bool(encoding) and encoding.lower() == "chunked"
    if response.chunked:
        response.chunk_left = None  # the first size line is still to be read
    response.will_close = response._check_close()
    response.length = None if response.chunked else _length(headers.get("content-length"))
    if response.status in (204, 304) or method == "HEAD":
        response.length = 0
    if not (response.chunked or response.length is not None):
        response.will_close = True  # the body ends when the connection does
    return True


def _length(value: str | None) -> int | None:
    """Content-Length as http.client takes it: an int >= 0, else unknown."""
    try:
        length = int(value) if value else None
    except ValueError:
        return None
    return length if length is None or length >= 0 else None


def read_head(conn: Connection, method: str) -> http.client.HTTPResponse:
    """The plugin's status line and headers; BadAnswer if it sent none or garbage."""
    response = http.client.HTTPResponse(conn, method=method)
    try:
        if not take_plain_head(response, method):
            response.begin()
    except http.client.RemoteDisconnected:
        raise BadAnswer("closed the connection without answering") from None
    except (http.client.HTTPException, ValueError) as exc:
        raise BadAnswer(f"malformed answer: {type(exc).__name__}") from None
    return response

"""The broker's HTTP/1.1 connection rules that do not depend on a server
library: what both serving backends (eventlet's in protocol.py and body.py,
gevent's in gevent_server.py) share.

- Error answers the server writes itself (`json_error`).
- The request head: the plain-head fast path, the line-by-line checks of
  the slow path, and the stdlib's parse_request for the rest.
- The request body: strict Content-Length and chunked decoding with a
  deadline per read (`StrictBody`), over any socket with settimeout().
- How many connections a worker may hold (`connection_limit`), and the
  503 beyond (`ConnectionBound`), over TLS too.
- Whether a client has gone while its request is answered (`client_gone`),
  plain or TLS.

Imports neither eventlet nor gevent: each backend imports this module.
"""

from __future__ import annotations

import errno
import functools
import http.client
import http.server
import json
import logging
import re
import resource
import select
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import BinaryIO

from multicloud_broker import metrics
from multicloud_broker.core.errors import ClientBodyError
from multicloud_broker.core.http import MAX_HEADERS, TOKEN, header_block_items
from multicloud_broker.server.framing import FramingError, check_header_line, chunk_size

# The environ key under which both servers put the request body they read
# (its `received` counts the bytes), for the access log.
BODY = "multicloud_broker.body"

LOG = logging.getLogger(__name__)

# Bytes of header lines in one head (431 beyond); eventlet's own bound.
MAX_TOTAL_HEADER_SIZE = 65536
MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
MAX_TRAILERS = 100
DISCARD_LIMIT = 1 << 20  # unread body drained to keep a connection; beyond, close it
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Out of descriptors or kernel memory: a reason to wait, not to stop serving.
ACCEPT_RETRY = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
FD_RESERVE = 1024  # descriptors kept for plugin and inventory connections, logs, files


def json_error(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 answer `{"error": message}` that closes the connection."""
    body = json.dumps({"error": message}).encode()
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode("ascii") + body


REFUSED = json_error(503, "this worker is at its connection limit; retry")
AT_THE_BOUND = "at max_connections"

# A TLS client over the bound gets its 503 after a handshake, all within
# this deadline; at most this many at once (beyond, closed unanswered), so
# a flood costs the worker a bounded amount of handshakes.
REFUSE_TLS_DEADLINE = 2.0
REFUSING_TLS_AT_ONCE = 64
# How often a watch looks again at a client that sent bytes during its
# request (a next request, or TLS's close_notify ahead of its FIN): its
# socket stays readable, so waiting for that would return at once.
WATCH_RECHECK = 0.1


def body_size(answer: bytes) -> int:
    """The body bytes of a whole answer (what the access log counts)."""
    return len(answer) - answer.index(b"\r\n\r\n") - 4


def log_nothing(*args) -> None:
    """The refusal log when none is given."""


def connection_limit(wanted: int) -> int:
    """`wanted`, or less when the open-file limit could not hold that many
    client connections besides the worker's other descriptors."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or wanted + FD_RESERVE <= soft:
        return wanted
    limit = max(1, soft - FD_RESERVE)
    LOG.warning("max_connections %d lowered to %d: the open-file limit is %d (raise "
                "the hard limit, e.g. LimitNOFILE or ulimit -Hn)", wanted, limit, soft)
    return limit


def is_tls(conn) -> bool:
    return hasattr(conn, "do_handshake")


def handshake_pending(conn) -> bool:
    """A TLS connection whose handshake is not done: nothing can be sent on it
    (a write would wait for the client's handshake)."""
    return is_tls(conn) and conn.version() is None


@functools.cache
def _os_poll():
    """select.poll as the OS has it: eventlet removes it, gevent makes it green.
    Asked for at serving time, once the backend has patched."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("select"):
        return monkey.get_original("select", "poll")
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        return patcher.original("select").poll
    return select.poll


_CLOSED = select.POLLRDHUP | select.POLLHUP | select.POLLERR


def _poll_now(fd: int) -> int:
    """The connection's poll events now (never waits)."""
    poller = _os_poll()()
    poller.register(fd, select.POLLIN | select.POLLRDHUP)
    events = poller.poll(0)
    return events[0][1] if events else 0


def has_pending_bytes(conn) -> bool:
    """True when the client has sent bytes not read yet (a next request) and
    not closed its connection. Over TLS, decrypted bytes held count, and so
    do encrypted ones that arrived (TLS cannot be peeked at)."""
    try:
        if is_tls(conn) and conn.pending():
            return True
        events = _poll_now(conn.fileno())
    except (OSError, ValueError):
        return False  # closed: treat as idle
    return bool(events & select.POLLIN) and not events & _CLOSED


def client_gone(conn) -> bool:
    """Whether the client has closed or reset its connection (a FIN or RST
    arrived), even with bytes still unread before it. Unread bytes alone (a
    pipelined request, or TLS's close_notify ahead of its FIN) are not a
    departure: the caller looks again while they wait. Plain or TLS alike:
    only the socket's state is read, never its bytes."""
    try:
        return bool(_poll_now(conn.fileno()) & _CLOSED)
    except (OSError, ValueError):
        return True


class ConnectionBound:
    """The connections a worker holds beyond `size`: answered 503 and closed
    at once; over TLS after a handshake (REFUSE_TLS_DEADLINE, at most
    REFUSING_TLS_AT_ONCE at a time), as a TLS client reads no plain answer.
    Counted, logged to the access log (`log_refusal`) and warned about.
    A backend provides `_deadline(seconds)`, a started timeout of its library."""

    def __init__(self, size: int, log_refusal: Callable = log_nothing):
        self.size = size
        self._log_refusal = log_refusal
        self._refused = 0
        self._refused_logged_at = 0.0

    def _answer_plain(self, raw: socket.socket, client: str) -> None:
        """The 503 on the OS-level socket: a send that would block fails at once."""
        try:
            sent = body_size(REFUSED) if raw.send(REFUSED) == len(REFUSED) else 0
        except OSError:
            sent = 0  # the caller closes it either way
        self._refused_one(client, sent, "", time.monotonic())

    def _answer_tls(self, conn, client: str) -> None:
        """The handshake, then the 503, within REFUSE_TLS_DEADLINE."""
        sent, failure, started = 0, "", time.monotonic()
        deadline = self._deadline(REFUSE_TLS_DEADLINE)
        try:
            conn.do_handshake()
            conn.sendall(REFUSED)
            sent = body_size(REFUSED)
        except (OSError, ValueError) as exc:
            failure = f"; TLS failed: {exc}"
        except BaseException as exc:  # the libraries' timeouts are BaseExceptions
            if exc is not deadline:
                raise
            failure = f"; no TLS handshake within {REFUSE_TLS_DEADLINE:g} s"
        finally:
            deadline.cancel()
            del deadline  # once raised, it and this frame refer to each other
        self._refused_one(client, sent, failure, started)

    def _unanswered(self, client: str) -> None:
        self._refused_one(client, 0, f"; {REFUSING_TLS_AT_ONCE} TLS refusals under way, "
                                     "closed unanswered", time.monotonic())

    def _refused_one(self, client: str, sent: int, note: str, started: float) -> None:
        self._refused += 1
        metrics.request_refused(503)
        self._log_refusal(client, b"", 503, AT_THE_BOUND + note, started, sent)
        now = time.monotonic()
        if now - self._refused_logged_at >= 10:
            LOG.warning("at max_connections (%d): refused %d connection(s) since the "
                        "last report", self.size, self._refused)
            self._refused, self._refused_logged_at = 0, now

    def _deadline(self, seconds: float):
        raise NotImplementedError


class ConnectionRules:
    """What both servers' connection handlers do alike: the idle wait of a
    kept-alive connection, reading the head within its deadline, refusals
    and body failures.

    The handler provides `limits` (a WorkerLimits), `connection` (the
    client socket), `rfile`, `served`, `client_address`, `command`, `path`,
    `close_connection`, `_send(data)` (a whole small answer), and what its
    server makes of a head: `_take_plain(match)` for a plain one,
    `_parse_head(request_line)` for one read line by line (each raising
    HeadError or answering itself), and `_deadline(seconds)`, a started
    timeout of its library (raised in the reader; `cancel()`ed after).
    Each returns something false when the request is not to be served.
    """

    raw_requestline = _head_bytes = b""
    _head_started = 0.0

    def _read_head(self):
        """Request line and headers, all within client_header_timeout."""
        # What a refusal logs: the request line as far as it is read, and since when.
        self._head_started = started = time.monotonic()
        self.raw_requestline = self._head_bytes = b""  # nothing yet (a 408 may come first)
        self._head_bytes = buffered = self._first_bytes()
        if not buffered:
            return None
        plain = self.limits.plain_head(buffered)
        if plain is not None:
            # The usual case: all of it is here and plain, so reading it
            # cannot wait and needs neither a timer nor line-by-line checks.
            self.rfile.read(plain.end())
            return self._take_plain(plain)
        return self._read_head_slowly(self.limits.header_timeout - (time.monotonic() - started))

    def _read_head_slowly(self, time_left: float):
        """The head line by line, each line checked, under one deadline: a
        head in pieces (or an odd one, whose error needs naming)."""
        limits = self.limits
        deadline = self._deadline(max(time_left, 0.001))
        try:
            line = self.rfile.readline(limits.url_length_limit)
            if not line:
                return None  # the client closed without a request
            self.raw_requestline = line
            if len(line) >= limits.url_length_limit:
                self._refuse(414, f"request line over {limits.url_length_limit} bytes")
                return None
            return self._parse_head(line)
        except HeadError as exc:
            self._refuse(exc.status, exc.message)
        except (OSError, ValueError):
            pass  # reset or closed by the client: nobody to answer
        except BaseException as exc:  # the libraries' timeouts are BaseExceptions
            if exc is not deadline:
                raise
            self._refuse(408, f"request head not received within {limits.header_timeout:g} s")
        finally:
            deadline.cancel()
            del deadline  # once raised, it and this frame refer to each other
        return None

    def _next_request_arrives(self) -> bool:
        """Wait (idle) for the first byte of a kept-alive connection's next request."""
        limits = self.limits
        if limits.stopping:
            return False
        limits.idle.add(self)
        self.connection.settimeout(limits.keepalive_timeout)
        try:
            return bool(self.rfile.peek(1))
        except (OSError, ValueError):
            return False  # idle too long, reset, or shut down by a drain: close silently
        finally:
            limits.idle.discard(self)
            self.connection.settimeout(limits.socket_timeout)

    def _first_bytes(self) -> bytes:
        """What the buffer holds of the request (empty: nothing will come).
        A kept-alive connection has them already (see _next_request_arrives);
        a new one waits for them within the header deadline."""
        limits, conn = self.limits, self.connection
        fresh = not self.served
        if fresh:
            conn.settimeout(limits.header_timeout)
        try:
            return self.rfile.peek(1)
        except socket.timeout:
            self._refuse(408, f"request head not received within {limits.header_timeout:g} s")
        except (OSError, ValueError):
            pass  # reset or closed by the client (or a failed TLS handshake): nobody to answer
        finally:
            if fresh:
                conn.settimeout(limits.socket_timeout)
        return b""

    def _body_failed(self, error: ClientBodyError | None) -> None:
        """The body could not be read (or is left too large to drain): close after the answer."""
        self.close_connection = True
        if error is None:
            return
        kind = ("client disconnected mid-upload" if error.disconnected
                else "request body too slow" if error.status == 408
                else "bad request framing")
        LOG.warning("%s: %s %r from %s: %s", kind, self.command, self.path[:200],
                    self.client_address[0], error.message)

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with `message` as JSON and close; counted and
        access-logged (an operator must find every answer the server wrote)."""
        self.close_connection = True
        metrics.request_refused(status)
        answer, sent = json_error(status, message), 0
        if handshake_pending(self.connection):
            message += "; no TLS handshake: not sent"
        else:
            self._send(answer)
            sent = body_size(answer)
        client = self.client_address[0]
        self.limits.log_refusal(client, self._request_line_read(), status, message,
                                self._head_started, sent)
        if status != 408:
            LOG.info("refused request from %s: %d %s", client, status, message)

    def _request_line_read(self) -> bytes:
        """The request line, or as much of it as had arrived when the head began
        (a line cut by the deadline is lost inside the reader)."""
        line = self.raw_requestline or self._head_bytes.partition(b"\n")[0]
        return line[:self.limits.url_length_limit]


# -- the request head ----------------------------------------------------------

def plain_head_pattern(max_line: int) -> re.Pattern:
    """A request head as well-behaved clients send it: `METHOD target
    HTTP/1.x`, then header lines of a token, a colon and a value without CR,
    LF or NUL, each at most `max_line` bytes with its CRLF (at most
    MAX_HEADERS of them), then a blank line. Anything else is parsed line by
    line, with each error named."""
    line = rb"(?=[^\r\n]{0,%d}\r\n)%s:[^\r\n\x00]*\r\n" % (max_line - 2, TOKEN)
    return re.compile(rb"(?P<method>%s) (?P<target>[\x21-\x7e\x80-\xff]+) "
                      rb"HTTP/1\.(?P<minor>[01])\r\n(?P<headers>(?:%s){0,%d})\r\n"
                      % (TOKEN, line, MAX_HEADERS))


class HeadRules:
    """The bounds on a request head one worker applies."""

    def __init__(self, max_header_line: int, url_length_limit: int):
        self.max_header_line = max_header_line
        self.url_length_limit = url_length_limit
        self._plain_head = plain_head_pattern(max_header_line)

    def plain_head(self, data: bytes) -> re.Match | None:
        """The request head at the start of `data` if it is all there, within
        the limits, and plain (see plain_head_pattern); else None."""
        end = data.find(b"\r\n\r\n") + 4
        head = self._plain_head.fullmatch(data, 0, end) if end > 3 else None
        if head is None:
            return None
        start, stop = head.span("headers")
        if start >= self.url_length_limit or stop - start > MAX_TOTAL_HEADER_SIZE:
            return None
        return head


class WorkerLimits(HeadRules):
    """What every connection of one worker shares: the head's bounds, the
    deadlines, the request slots (`slots`, a semaphore of the backend's
    library), the idle kept-alive connections, whether it is stopping, and
    where the answers the server writes itself are logged."""

    def __init__(self, slots, *, header_timeout: float, keepalive_timeout: float,
                 body_timeout: float, socket_timeout: float | None,
                 max_header_line: int, url_length_limit: int,
                 log_refusal: Callable = log_nothing):
        super().__init__(max_header_line, url_length_limit)
        # (client, request line, status, reason, started, body bytes sent): AccessLog.refused
        self.log_refusal = log_refusal
        self.header_timeout = header_timeout
        self.keepalive_timeout = keepalive_timeout
        self.body_timeout = body_timeout
        self.socket_timeout = socket_timeout
        self.slots = slots
        self.stopping = False
        self.idle: set = set()


def configured_limits(conf) -> dict:
    """A worker's limits from the configuration, as keyword arguments of
    a backend's Limits (WorkerLimits' and `request_slots`)."""
    return dict(header_timeout=conf.client_header_timeout,
                keepalive_timeout=conf.keepalive_timeout,
                body_timeout=conf.client_body_timeout,
                socket_timeout=conf.client_socket_timeout or None,
                request_slots=conf.wsgi_pool_size, max_header_line=conf.max_header_line,
                url_length_limit=conf.max_url_length)


@dataclass
class Head:
    """A parsed request head, as http.server's parse_request leaves it."""

    command: str
    path: str
    request_version: str
    requestline: str
    raw_requestline: bytes
    headers: http.client.HTTPMessage
    close_connection: bool
    expect_continue: bool  # a 100 Continue may be due before the body


def plain_head_fields(head: re.Match, protocol_version: str) -> Head:
    """What parse_request makes of a plain head (see plain_head_pattern),
    without the email parser (a third of a small request's cost)."""
    method, target, minor, block = head.group("method", "target", "minor", "headers")
    command = method.decode("ascii")
    path = raw_path = target.decode("latin-1")
    if path.startswith("//"):  # as parse_request: no scheme-relative paths
        path = "/" + path.lstrip("/")
    version = "HTTP/1." + chr(minor[0])
    headers = http.client.HTTPMessage()
    headers._headers = header_block_items(block)
    server_11 = protocol_version >= "HTTP/1.1"
    connection = headers.get("Connection", "").lower()
    keep = (connection == "keep-alive" and server_11
            or minor == b"1" and server_11 and connection != "close")
    expect = (minor == b"1" and server_11
              and headers.get("Expect", "").lower() == "100-continue")
    return Head(command, path, version, f"{command} {raw_path} {version}",
                head.string[:head.start("headers")], headers, not keep, expect)


class HeadError(Exception):
    """The head is refused: answer `status` with `message`, then close."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class HeadLines:
    """A connection's reader while header lines are parsed: each line is
    checked, and their size bounded (HeadError)."""

    def __init__(self, rfile: BinaryIO, max_line: int):
        self._rfile = rfile
        self._max_line = max_line
        self.total = 0

    def readline(self, size: int = -1) -> bytes:
        line = self._rfile.readline(self._max_line + 1)
        if len(line) > self._max_line:
            raise HeadError(400, f"header line over {self._max_line} bytes")
        self.total += len(line)
        if self.total > MAX_TOTAL_HEADER_SIZE:
            raise HeadError(431, f"request headers over {MAX_TOTAL_HEADER_SIZE} bytes")
        if not line:
            raise HeadError(400, "connection closed inside the request headers")
        try:
            check_header_line(line)
        except FramingError as exc:
            raise HeadError(400, str(exc)) from None
        return line


class _HeadParser(http.server.BaseHTTPRequestHandler):
    """The stdlib's parse_request, without a connection: its errors raise."""

    def __init__(self, raw_requestline: bytes, lines: HeadLines, protocol_version: str):
        # No BaseRequestHandler.__init__: nothing to set up or handle.
        self.raw_requestline = raw_requestline
        self.rfile = lines
        self.protocol_version = protocol_version
        self.expect_continue = False

    def handle_expect_100(self) -> bool:
        self.expect_continue = True  # sent when the body is first read
        return True

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        raise HeadError(int(code), message or HTTPStatus(code).phrase)


def parse_head(raw_requestline: bytes, rfile: BinaryIO, rules: HeadRules,
               protocol_version: str) -> Head:
    """The rest of a head whose request line was read: each header line
    checked, as http.server's parse_request reads it. HeadError if refused."""
    parser = _HeadParser(raw_requestline, HeadLines(rfile, rules.max_header_line),
                         protocol_version)
    parser.parse_request()
    return Head(parser.command, parser.path, parser.request_version, parser.requestline,
                raw_requestline, parser.headers, parser.close_connection,
                parser.expect_continue)


# -- the request body ----------------------------------------------------------

class StrictBody:
    """A request body framed by a checked Content-Length or by `chunked`,
    read with a deadline between two reads (`wsgi.input`).

    Malformed chunked framing, a client that goes away mid-body and a
    client that stalls past `body_timeout` each raise ClientBodyError, once;
    `on_error(error)` is called first (it logs and makes the connection
    close after the answer). A subclass sends the 100 Continue
    (`_continue_due`, `_send_continue`).

    Attributes the servers' own inputs have too: `rfile`, `content_length`,
    `position` (of a sized body), `chunked_input`.
    """

    def _init_body(self, rfile: BinaryIO, sock: socket.socket, content_length: int | None,
                   chunked: bool, body_timeout: float, socket_timeout: float | None,
                   on_error: Callable[[ClientBodyError | None], None]) -> None:
        self.rfile = rfile
        self._sock = sock
        self.content_length = content_length  # None: chunked
        self.chunked_input = chunked
        self.position = 0
        self._body_timeout = body_timeout
        self._socket_timeout = socket_timeout
        self._on_error = on_error
        self._error: ClientBodyError | None = None
        self._chunk_left = 0  # bytes of the current chunk not read yet
        self._after_chunk = False  # the CRLF that ends a chunk's data is due
        self._last_chunk = False  # the zero-size chunk (and trailers) was read
        self.received = 0  # body bytes received so far

    def _continue_due(self) -> bool:
        return False

    def _send_continue(self) -> None:
        """Send the interim 100 Continue; OSError if the client is gone."""

    # -- the wsgi.input interface --------------------------------------
    def read(self, length: int | None = None) -> bytes:
        return self._read(length, line=False)

    def readline(self, size: int | None = None) -> bytes:
        return self._read(size, line=True)

    def discard(self, buffer_size: int = 64 << 10) -> None:
        """Drain what the app left unread, so the connection can be reused;
        a large remainder closes the connection instead of being read."""
        budget = DISCARD_LIMIT
        try:
            while budget > 0:
                data = self.read(min(buffer_size, budget))
                if not data:
                    return
                budget -= len(data)
        except ClientBodyError:
            return  # on_error has asked for the close
        self._on_error(None)

    # -- reading -------------------------------------------------------
    def _read(self, length: int | None, line: bool) -> bytes:
        if self._error is not None:
            raise self._error
        if self._continue_due():
            try:
                self._send_continue()
            except OSError as exc:
                self._fail(f"client connection lost before the body: {exc.strerror or exc}",
                           disconnected=True)
        if length is not None and length < 0:
            length = None
        reader = self.rfile.readline if line else self.rfile.read
        if self.chunked_input:
            return self._read_chunked(length, reader, line)
        return self._read_fixed(length, reader)

    def _read_fixed(self, length: int | None, reader) -> bytes:
        left = (self.content_length or 0) - self.position
        if length is None or length > left:
            length = left
        if not length:
            return b""
        data = self._io(reader, length)
        if not data:
            self._fail(f"client closed the connection after {self.position} of "
                       f"{self.content_length} body bytes", disconnected=True)
        self.position += len(data)
        self.received += len(data)
        return data

    def _read_chunked(self, length: int | None, reader, line: bool) -> bytes:
        pieces = []
        while not self._last_chunk and (length is None or length > 0):
            if not self._chunk_left:
                self._next_chunk()
                continue
            want = self._chunk_left if length is None else min(length, self._chunk_left)
            data = self._io(reader, want)
            if not data:
                self._fail(f"client closed the connection inside a chunk, after "
                           f"{self.received} body bytes", disconnected=True)
            self._chunk_left -= len(data)
            self._after_chunk = not self._chunk_left
            self.received += len(data)
            pieces.append(data)
            if length is not None:
                length -= len(data)
            if line and data.endswith(b"\n"):
                break
        return b"".join(pieces)

    def _next_chunk(self) -> None:
        if self._after_chunk:
            if self._line() not in (b"\r\n", b"\n"):
                self._fail("bad chunked framing: chunk data longer than its size")
            self._after_chunk = False
        try:
            size = chunk_size(self._line())
        except FramingError as exc:
            self._fail(f"bad chunked framing: {exc}")
        if size:
            self._chunk_left = size
            return
        for _ in range(MAX_TRAILERS + 1):
            trailer = self._line()
            if trailer in (b"\r\n", b"\n"):
                self._last_chunk = True
                return
            try:
                check_header_line(trailer)
            except FramingError as exc:
                self._fail(f"bad chunked framing: trailer: {exc}")
        self._fail("bad chunked framing: too many trailer lines")

    def _line(self) -> bytes:
        line = self._io(self.rfile.readline, MAX_CHUNK_LINE + 1)
        if not line:
            self._fail(f"client closed the connection inside a chunked body, after "
                       f"{self.received} body bytes", disconnected=True)
        if len(line) > MAX_CHUNK_LINE or not line.endswith(b"\n"):
            self._fail(f"bad chunked framing: line over {MAX_CHUNK_LINE} bytes")
        return line

    def _io(self, reader, size: int) -> bytes:
        """One read, waiting at most client_body_timeout for data."""
        sock = self._sock
        sock.settimeout(self._body_timeout)
        try:
            return reader(size)
        except socket.timeout:
            self._fail(f"no request body data for {self._body_timeout:g} s "
                       f"(after {self.received} bytes)", status=408)
        except OSError as exc:
            self._fail(f"client connection lost during the body after {self.received} "
                       f"bytes: {exc.strerror or exc}", disconnected=True)
        finally:
            sock.settimeout(self._socket_timeout)

    def _fail(self, message: str, status: int = 400, disconnected: bool = False):
        self._error = ClientBodyError(message, status=status, disconnected=disconnected)
        self._on_error(self._error)
        raise self._error

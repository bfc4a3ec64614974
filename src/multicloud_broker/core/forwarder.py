"""Forwarding a request to a plugin and its answer back, bytes unchanged.

The broker frames what it sends (its own Content-Length or chunked encoding,
never the client's framing headers), and hands back the plugin's answer as
it comes. A pooled connection is reused only after its answer was read to
the end; a plugin answer that ends early is not passed on as whole: the body
iterator raises, and the server cuts the client connection.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

from multicloud_broker import metrics
from multicloud_broker.core.errors import (ApiError, BadGateway, BadRequest, ClientBodyError,
                                           ClientGone,
                                           GatewayTimeout, PayloadTooLarge, ServiceUnavailable)
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.upstream import (BadAnswer, Busy, Connection,
                                             CutShort, Deadline, DeadlineExceeded,
                                             PluginPool, TooSlow, Unreachable, UpstreamError,
                                             encode_head, read_head)

LOG = logging.getLogger(__name__)

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
))
# Also not taken from the client: the broker frames the body itself, names the
# plugin's host, and sets the (validated) transaction id.
NOT_FROM_CLIENT = HOP_BY_HOP | {"host", "content-length", "expect", "x-transactionid"}
CHUNK = 64 * 1024
SMALL_ANSWER = 1 << 20  # a capacity answer is a few hundred bytes
# Read before answering: a body announced at most this long whole, else up to
# this much of what arrives within READ_AHEAD_WAIT of its first piece. Most
# answers are whole by then (and get a Content-Length), and a plugin that cuts
# or stalls a short answer gets a proper 502/504. Whatever comes later is
# passed on as it comes: a slow stream is held back READ_AHEAD_WAIT at most.
READ_AHEAD = 4096
READ_AHEAD_WAIT = 0.05


def _without(headers: list[tuple[str, str]], dropped: frozenset) -> list[tuple[str, str]]:
    """Headers less those named in `dropped` and those that `Connection` names."""
    named = set(dropped)
    for key, value in headers:
        if key.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(","))
    return [(k, v) for k, v in headers if k.lower() not in named]


def end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers without the hop-by-hop ones, nor any that `Connection` names."""
    return _without(headers, HOP_BY_HOP)


def client_headers(request: Request) -> list[tuple[str, str]]:
    """The client's end-to-end headers a plugin gets, less framing and Host."""
    return _without(request.header_items, NOT_FROM_CLIENT)


class Forwarder:
    """Pooled keep-alive connections per worker, one pool per plugin."""

    def __init__(self, connect_timeout: float, read_timeout: float, total_timeout: float,
                 max_connections: int, max_idle: int, max_body_size: int,
                 max_waiting: int = 0):
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self._max_connections = max_connections
        self._max_waiting = max_waiting  # calls queued per plugin beyond max_connections
        self._max_idle = max_idle
        self._max_body = max_body_size
        self._pools: dict[tuple[str, str], PluginPool] = {}

    def forward(self, request: Request, plugin: str, base: str, target: str) -> Response:
        """Send the request's method, headers and body to the plugin at `base`,
        `target` being path and query; the plugin's answer, streamed."""
        txid = request.headers["x-transactionid"]
        headers = client_headers(request)
        headers.append(("X-TransactionID", txid))
        call = _Call(self, plugin, base, target, txid, self.total_timeout)
        response = call.run(request.method, headers, request)
        out = _answer_headers(response)
        if request.method == "HEAD":
            # A plugin may wrongly send a body after a HEAD answer, maybe
            # late: bytes that would be read as the next answer. HEAD is rare
            # here; its connection is not reused.
            call.finish(reusable=False)
            return Response(response.status, out, b"")
        if response.length == 0:
            call.finish(reusable=not response.will_close)
            return Response(response.status, out, b"")
        body = _Body(call, response)
        try:
            first = body.read_ahead(READ_AHEAD)
        except UpstreamError as exc:
            # Nothing has gone to the client yet: answer the fault properly.
            raise _api_error(exc, plugin) from None
        if body.done:
            if response.chunked or response.length is None:
                out.append(("Content-Length", str(len(first))))
            return Response(response.status, out, first)
        return Response(response.status, out, body)

    def post(self, plugin: str, base: str, target: str, headers: list[tuple[str, str]],
             body: bytes, timeout: float, txid: str) -> tuple[int, bytes]:
        """A small request with the whole answer read (capacity checks).

        Raises the same ApiErrors as forward(); `timeout` is the overall deadline.
        """
        call = _Call(self, plugin, base, target, txid, timeout)
        response = call.run("POST", headers, body)
        reader = _Body(call, response)
        data = bytearray()
        try:
            for piece in reader:
                data += piece
                if len(data) > SMALL_ANSWER:
                    raise BadGateway(f"plugin {plugin} answered over {SMALL_ANSWER} bytes")
        except UpstreamError as exc:
            raise _api_error(exc, plugin) from None
        finally:
            reader.close()
        return response.status, bytes(data)

    def pool(self, plugin: str, base: str) -> PluginPool:
        # Made once per plugin and kept: each plugin has its own connection
        # bound, even when several share one base URL (the MSB gateway).
        key = (plugin, base)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = PluginPool(base, self._max_connections,
                                                 self._max_idle, self._max_waiting)
        return pool

    def client_chunks(self, request: Request) -> Iterator[bytes]:
        """The client's body in pieces; ClientBodyError if it ends early or
        breaks, PayloadTooLarge beyond max_body_size (for chunked bodies: a
        declared length over it is refused earlier, in Broker.handle)."""
        remaining = request.content_length
        sent = 0
        while remaining is None or remaining > 0:
            size = CHUNK if remaining is None else min(CHUNK, remaining)
            try:
                data = request.body.read(size)
            except (OSError, ValueError) as exc:  # servers other than ours
                raise ClientBodyError(f"client stopped sending its body: {exc}",
                                      disconnected=True) from None
            if not data:
                if remaining:
                    raise ClientBodyError(
                        f"client body ended {remaining} bytes short of its Content-Length",
                        disconnected=True)
                return
            sent += len(data)
            if sent > self._max_body:
                raise PayloadTooLarge(f"request body over {self._max_body} bytes")
            if remaining is not None:
                remaining -= len(data)
            yield data


class _Call:
    """One exchange with a plugin: a connection from its pool, given back once."""

    def __init__(self, forwarder: Forwarder, plugin: str, base: str, target: str,
                 txid: str, total: float):
        self.fw = forwarder
        self.plugin, self.target, self.txid = plugin, target, txid
        self.pool = forwarder.pool(plugin, base)
        self.url = base + target
        self.deadline = Deadline(total, forwarder.connect_timeout)
        self.conn: Connection | None = None
        self.broken = False  # the request was not sent whole: never reuse
        self.started = time.perf_counter()

    def run(self, method: str, headers: list[tuple[str, str]],
            body: Request | bytes | None):
        """Connect (or reuse), send, and read the answer's head; ApiError on faults."""
        try:
            head = encode_head(method, self.pool.prefix + self.target,
                               self.pool.host_header, headers + _framing(body))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        try:
            # A queued call waits while the plugin keeps answering:
            # connect_timeout without an answer means it hangs.
            self.conn = self.pool.acquire(self.fw.connect_timeout, self.deadline.at)
            self.conn.deadline = self.deadline
            if self.conn.sock is None:
                self.deadline.step = self.fw.connect_timeout
                self.conn.connect(self.deadline.timeout())
            self.deadline.step = self.fw.read_timeout
            early = self._send(head, body)
            response = early or self._read_head(method, body)
            _check_framing(response)
            self.pool.answered()
            metrics.plugin_answer(self.plugin, response.status, self.started)
            return response
        except (UpstreamError, ApiError) as exc:
            self.finish(reusable=False)
            if isinstance(exc, ClientBodyError):
                # The client's fault, never the plugin's (the server logs it too).
                LOG.info("client body not forwarded to plugin %s (%s): %s",
                         self.plugin, self.url, exc.message)
                raise
            if isinstance(exc, ApiError):
                raise
            self.log(exc)
            error = _api_error(exc, self.plugin)
            metrics.plugin_fault(self.plugin, error.status, self.started, isinstance(exc, Busy))
            raise error from None
        except BaseException:
            self.finish(reusable=False)
            raise

    def _send(self, head: bytes, body: Request | bytes | None):
        """Send head and body; an answer the plugin sent early, if sending broke."""
        conn = self.conn
        if isinstance(body, Request) and not (body.has_body and body.body is not None):
            body = None  # framing (an explicit Content-Length: 0) is in the head
        try:
            if body is None or isinstance(body, bytes):
                conn.sendall(head + (body or b""))
                return None
            chunked = body.content_length is None
            pieces = self.fw.client_chunks(body)
            first = next(pieces, b"")
            conn.sendall(head + _frame(first, chunked) if first else head)
            for piece in pieces:
                conn.sendall(_frame(piece, chunked))
            if chunked:
                conn.sendall(b"0\r\n\r\n")
            return None
        except (socket.timeout, DeadlineExceeded) as exc:
            raise _slow(exc, self.deadline, "take the request body") from None
        except OSError as exc:
            # The plugin stopped reading (it may have answered, e.g. 413, and
            # closed): its answer, if there is one, is the answer.
            self.broken = True
            try:
                return read_head(conn, "POST")
            except (UpstreamError, OSError):
                raise BadAnswer(f"connection broke while sending the request: {exc}") from None

    def _read_head(self, method: str, client: Request | bytes | None):
        # The client's body is all read by now: while the plugin thinks, a
        # client that goes away abandons the call (ClientGone) and frees its
        # connection instead of holding both until the deadline.
        watch = client.watch_client if isinstance(client, Request) else None
        disarm = watch() if watch is not None else None
        try:
            return read_head(self.conn, method)
        except (socket.timeout, DeadlineExceeded) as exc:
            raise _slow(exc, self.deadline, "answer") from None
        except OSError as exc:
            raise BadAnswer(f"connection broke before the answer: {exc}") from None
        except ClientGone:
            LOG.info("client went away while plugin %s was asked (%s) [%s]: call abandoned",
                     self.plugin, self.url, self.txid)
            raise
        finally:
            if disarm is not None:
                disarm()

    def finish(self, reusable: bool) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            self.pool.release(conn, reusable and not self.broken)

    def log(self, exc: Exception) -> None:
        LOG.warning("plugin %s at %s [%s]: %s: %s", self.plugin, self.url, self.txid,
                    type(exc).__name__, exc)


class _Body:
    """The plugin's answer body as it comes; the connection is given back once
    the body was read to its end, closed if the body stops being read."""

    def __init__(self, call: _Call, response):
        self._call = call
        self._response = response
        self._pending = b""
        self.done = False

    def read_ahead(self, size: int) -> bytes:
        """The body's first piece (waiting for it), then what arrives within
        READ_AHEAD_WAIT, up to `size` bytes; `done` if that is all of it.
        A body whose Content-Length is at most `size` is waited for whole (it
        is no stream: its fault is better a 502/504). Kept to be yielded first."""
        length = self._response.length
        small = length is not None and length <= size
        parts, got = [], 0
        until = 0.0
        while got < size:
            if parts and not small and not self._arrived(until):
                break  # the rest is still on its way: streamed as it comes
            until = until or time.monotonic() + READ_AHEAD_WAIT
            try:
                piece = next(self)
            except StopIteration:
                self.done = True
                break
            parts.append(piece)
            got += len(piece)
        self._pending = b"".join(parts)
        return self._pending

    def _arrived(self, until: float) -> bool:
        """True when the next piece can be read without waiting for the plugin
        (or once it arrives before `until`, a time.monotonic() time)."""
        conn, response = self._call.conn, self._response
        reader = response.fp
        if conn is None or reader is None:
            return True
        if not conn.arrived(reader, _left(until)):
            return False
        if not response.chunked or response.chunk_left:
            return True
        # Between chunks http.client reads the next size line whole, waiting
        # for it: it must be buffered already (peek reads nothing more now),
        # or more (or the end, a cut answer) must be on the socket.
        return _chunk_start_buffered(reader.peek(1)) or conn.has_input(_left(until))

    def __iter__(self) -> "_Body":
        return self

    def __next__(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        response = self._response
        if self._call.conn is None:
            raise StopIteration
        try:
            data = response.read1(CHUNK) if response.length != 0 else b""
            if data:
                return data
            if response.length:  # Content-Length promised more
                raise CutShort(f"body ended {response.length} bytes short of its Content-Length")
        except (UpstreamError, OSError, ValueError) as exc:
            self._cut(exc)
        except Exception as exc:  # http.client's IncompleteRead: chunked body cut
            self._cut(CutShort(f"{type(exc).__name__}: {exc!r}"))
        self._call.finish(reusable=not response.will_close)
        raise StopIteration

    def _cut(self, exc: BaseException) -> None:
        """Give the connection up and raise: the server then cuts the client
        connection instead of ending the answer as if it were whole."""
        call = self._call
        if isinstance(exc, (socket.timeout, DeadlineExceeded)):
            exc = _slow(exc, call.deadline, "send its whole answer")
        elif not isinstance(exc, UpstreamError):
            exc = CutShort(f"{type(exc).__name__}: {exc}")
        call.finish(reusable=False)
        LOG.warning("plugin %s answer cut short: %s: %s (%s) [%s]",
                    call.plugin, type(exc).__name__, exc, call.url, call.txid)
        raise exc

    def close(self) -> None:
        # Called by the server when the client went away or the answer was
        # abandoned: the plugin's remaining bytes would poison the connection.
        self._call.finish(reusable=False)

    # A server that drops the iterator without close() must not leak the
    # connection's slot in the plugin's bound.
    __del__ = close


def _framing(body: Request | bytes | None) -> list[tuple[str, str]]:
    if body is None:
        return []
    if isinstance(body, bytes):
        return [("Content-Length", str(len(body)))]
    if not body.has_body:
        # A client's explicit "Content-Length: 0" is kept; none invented.
        return [("Content-Length", "0")] if body.content_length == 0 else []
    if body.content_length is not None:
        return [("Content-Length", str(body.content_length))]
    return [("Transfer-Encoding", "chunked")]


def _frame(data: bytes, chunked: bool) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data


def _check_framing(response) -> None:
    """Refuse answers whose end could not be found for sure."""
    codings = response.headers.get_all("Transfer-Encoding") or []
    if codings:
        tokens = [t.strip().lower() for v in codings for t in v.split(",") if t.strip()]
        if tokens != ["chunked"]:
            raise BadAnswer(f"unsupported Transfer-Encoding {', '.join(codings)!r}")
        return  # chunked wins over any Content-Length, which is dropped
    lengths = {v.strip() for v in response.headers.get_all("Content-Length") or []}
    if len(lengths) > 1 or any(not v.isdigit() for v in lengths):
        raise BadAnswer(f"ambiguous Content-Length {sorted(lengths)!r}")


def _answer_headers(response) -> list[tuple[str, str]]:
    headers = end_to_end(list(response.headers.items()))
    if response.chunked:
        # De-chunked here and re-framed by the server: a length sent along
        # with chunked encoding is stale.
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return headers


def _slow(exc: BaseException, deadline: Deadline, what: str) -> TooSlow:
    if isinstance(exc, DeadlineExceeded) or deadline.left() <= 0.001:
        return DeadlineExceeded(f"did not {what} within total_timeout")
    return TooSlow(f"did not {what} within read_timeout")


def _left(until: float) -> float:
    return max(0.0, until - time.monotonic())


def _chunk_start_buffered(data: bytes) -> bool:
    """Whether `data` holds what comes between two chunks' data: the CRLF
    ending one, the next size line, and a byte of data, or after a last
    (zero) chunk the blank line. b"" is the end, which does not wait either."""
    end = data.find(b"\n", 2)
    if not data or end < 0:
        return not data
    try:
        last = int(data[2:end].split(b";", 1)[0].strip(b" \t\r"), 16) == 0
    except ValueError:
        return True  # malformed: reading it fails at once, as it should
    return data.find(b"\n\r\n", end) >= 0 if last else len(data) > end + 1


def _api_error(exc: UpstreamError, plugin: str) -> ApiError:
    """The answer for a plugin fault: names the plugin, never its URL."""
    if isinstance(exc, Busy):
        return ServiceUnavailable(f"plugin {plugin} is busy: {exc}")
    if isinstance(exc, DeadlineExceeded):
        return GatewayTimeout(f"plugin {plugin} did not answer within the total deadline")
    if isinstance(exc, TooSlow):
        return GatewayTimeout(f"plugin {plugin} too slow: {exc}")
    if isinstance(exc, Unreachable):
        return BadGateway(f"plugin {plugin} unreachable: {exc}")
    return BadGateway(f"plugin {plugin} failed: {exc}")

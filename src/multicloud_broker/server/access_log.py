"""One access-log line per request, as WSGI middleware around the app.

The line is written when the answer has been sent: the app's body is wrapped,
and the line goes out from its close(), so the status and the duration
include a streamed body, and an answer cut short (the body failed, or the
client went away) says so. Lines are handed to a `LineWriter`, which never
makes a request wait for the log's reader.

Every value a client can influence is escaped (`clean`): a line can be
neither split nor forged, whatever the path or headers hold.

Answers the server writes itself, before any app (a refused head, a
connection over the bound), are logged by `refused()`: the client's address,
the request line as far as it was read, the status and the reason. A client
can send those far faster than requests, so they are rate-limited per worker
(REFUSED_LINES_BURST, then REFUSED_LINES_PER_SECOND); lines beyond are
counted as dropped by the writer.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote

from multicloud_broker.core import routes
from multicloud_broker.server.http_rules import BODY
from multicloud_broker.logs import REQUEST_CONTEXT, RequestContext
from multicloud_broker.server.log_writer import DEFAULT_CAPACITY, LineWriter, flush_all

# Longest logged value, so that a line stays below PIPE_BUF (one atomic write).
PATH_LIMIT, VALUE_LIMIT = 1024, 160
# Refused-request lines per worker: a burst of this many, then this many a
# second (a flood of hostile connections must not fill the disk).
REFUSED_LINES_BURST, REFUSED_LINES_PER_SECOND = 100, 10

_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x21), 0x7f)}
_ESCAPES[ord("\\")] = "\\\\"
# In a quoted field spaces stay, the quote is escaped.
_QUOTED_ESCAPES = {**{c: e for c, e in _ESCAPES.items() if c != ord(" ")}, ord('"'): "\\x22"}


def _plain(value: str) -> bool:
    """True when `value` needs no escaping (the common case, checked at C speed)."""
    return (value.isascii() and value.isprintable() and " " not in value
            and "\\" not in value)


def clean(value: str, limit: int = VALUE_LIMIT) -> str:
    """`value` as printable ASCII without spaces: control characters, spaces,
    backslashes and non-ASCII escaped (\\xNN), cut at `limit` characters."""
    if not _plain(value):
        value = value.translate(_ESCAPES).encode("ascii", "backslashreplace").decode("ascii")
    if len(value) > limit:
        value = value[:limit] + "..."
    return value or "-"


def escaped(value: str, limit: int = PATH_LIMIT) -> str:
    """`value` escaped as by `clean`, but spaces kept and `"` escaped."""
    value = value.translate(_QUOTED_ESCAPES).encode("ascii", "backslashreplace").decode("ascii")
    return value[:limit] + "..." if len(value) > limit else value


def quoted(value: str, limit: int = PATH_LIMIT) -> str:
    """`value` escaped (spaces kept) in double quotes: one field of a line."""
    return f'"{escaped(value, limit)}"'


def open_access_log(path: str) -> int:
    """A file descriptor for the access log: the file at `path`, else stdout."""
    if not path:
        return sys.stdout.fileno()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


class _Clock:
    """`2026-11-25 07:03:11,123`, formatting the seconds once per second."""

    def __init__(self):
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._prefix},{int((now - second) * 1000):03d}"


class _Budget:
    """A token bucket: `burst` at once, refilled at `rate` a second."""

    def __init__(self, burst: int, rate: float):
        self.burst, self.rate = burst, rate
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class _Exchange:
    """What the line tells about one request, gathered while it is answered."""

    __slots__ = ("environ", "started", "status", "headers", "sent", "done", "context",
                 "begin")

    def __init__(self, environ: dict):
        self.environ = environ
        self.started = time.monotonic()
        self.status = "500"
        self.headers: list = []
        self.sent = 0
        self.done = False
        self.context: RequestContext | None = None

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return ""


class AccessLog:
    """Logs each request once its answer is sent.

    Text (the default): time, worker pid, method, raw path, status, `done` or
    `cut`, duration, body bytes sent, transaction id. JSON: one object per
    line with ONAP's logging fields (see `_json_line`). Answers the server
    wrote itself: `refused()`.
    """

    def __init__(self, app: Callable, fd: int, log_format: str = "text",
                 capacity: int = DEFAULT_CAPACITY):
        self.app = app
        self.fd = fd
        self.writer = LineWriter(fd, capacity, owns_fd=fd > 2, name="access log")
        self.json = log_format == "json"
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.clock = _Clock()
        self._refusals = _Budget(REFUSED_LINES_BURST, REFUSED_LINES_PER_SECOND)

    @property
    def dropped(self) -> int:
        """Lines lost because the reader lagged or the file failed."""
        return self.writer.dropped

    def close(self) -> None:
        """Write what is queued and close the file (never stdout or stderr).

        Called when a worker stops: the application log's queue is written
        out too, as the worker may then end without running atexit handlers."""
        self.writer.close()
        flush_all()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        exchange = _Exchange(environ)
        token = None
        if self.json:
            exchange.begin = time.time()
            token = self._enter(exchange)

        def capture(status, headers, exc_info=None):
            exchange.status, exchange.headers = status, headers
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, capture)
        except BaseException:
            exchange.status = "500"
            self._finish(exchange, token)
            raise
        # Each chunk goes to the client before the next is asked for: when the
        # body ends, all of it was sent (eventlet otherwise holds 4 KiB back).
        environ["eventlet.minimum_write_chunk_size"] = 0
        wrapper = _SizedBody if hasattr(body, "__len__") else _Body
        return wrapper(body, lambda: self._finish(exchange, token), exchange)

    def _enter(self, exchange: _Exchange):
        environ = exchange.environ
        client = environ.get("REMOTE_ADDR", "")
        exchange.context = RequestContext(
            request_id=clean(environ.get("HTTP_X_ONAP_REQUESTID", "")),
            invocation_id=_uuid4(),
            partner=clean(environ.get("HTTP_X_ONAP_PARTNERNAME")
                          or environ.get("HTTP_X_FROMAPPID") or client),
            client=clean(client))
        return REQUEST_CONTEXT.set(exchange.context)

    def _finish(self, exchange: _Exchange, token) -> None:
        line = self._json_line(exchange) if self.json else self._text_line(exchange)
        if token is not None:
            REQUEST_CONTEXT.reset(token)
        self.writer.write(line.encode("ascii", "backslashreplace"))

    def _text_line(self, ex: _Exchange) -> str:
        environ = ex.environ
        method, txid = environ["REQUEST_METHOD"], ex.header("x-transactionid")
        path = environ.get("RAW_PATH_INFO")
        # One check of the three client-set values, escaping only when needed.
        if (path is None or not _plain(method + path + txid) or len(path) > PATH_LIMIT
                or len(method) > 32 or len(txid) > VALUE_LIMIT or not txid):
            method, path, txid = clean(method, 32), _path(environ), clean(txid)
        return (f"{self.clock.now()} {self.pid} {method} {path} {ex.status[:3]} "
                f"{'done' if ex.done else 'cut'} "
                f"{(time.monotonic() - ex.started) * 1000:.1f}ms {ex.sent} {txid}\n")

    def _json_line(self, ex: _Exchange) -> str:
        environ, context = ex.environ, ex.context
        elapsed = (time.monotonic() - ex.started) * 1000
        txid = clean(ex.header("x-transactionid"))
        method = clean(environ["REQUEST_METHOD"], 32)
        status = int(ex.status[:3]) if ex.status[:3].isdigit() else 500
        record = {
            "begin": _iso(ex.begin), "end": _iso(ex.begin + elapsed / 1000),
            "level": "INFO", "logger": "access",
            "RequestID": context.request_id if context.request_id != "-" else txid,
            "InvocationID": context.invocation_id,
            "PartnerName": context.partner, "TransactionID": txid,
            "ServiceName": _service_name(environ, method),
            "method": method, "path": _path(environ),
            "StatusCode": "COMPLETE" if ex.done and status < 500 else "ERROR",
            "ResponseCode": status, "outcome": "done" if ex.done else "cut",
            "ElapsedTime": round(elapsed, 1), "ClientIPAddress": context.client,
            "server": self.host, "pid": self.pid,
            "BytesIn": _bytes_in(environ), "BytesOut": ex.sent,
        }
        return _to_json(record) + "\n"

    def refused(self, client: str, request_line: bytes, status: int, reason: str,
                started: float, sent: int) -> None:
        """Log an answer the server wrote itself (no app saw the request):
        `request_line` as far as it was read (empty: nothing was), `sent`
        body bytes, `started` the head's start (time.monotonic())."""
        if not self._refusals.take():
            self.writer.skip()
            return
        line = request_line.rstrip(b"\r\n").decode("latin-1")
        method, _, rest = line.partition(" ")
        target = rest.partition(" ")[0]
        elapsed = (time.monotonic() - started) * 1000
        if self.json:
            text = self._json_refusal(client, line, method, target, status, reason, elapsed, sent)
        else:
            text = (f"{self.clock.now()} {self.pid} {clean(method, 32)} {_path_of(target)} "
                    f"{status} refused {elapsed:.1f}ms {sent} - {clean(client)} "
                    f"{quoted(line)} {quoted(reason, VALUE_LIMIT * 2)}\n")
        self.writer.write(text.encode("ascii", "backslashreplace"))

    def _json_refusal(self, client: str, line: str, method: str, target: str, status: int,
                      reason: str, elapsed: float, sent: int) -> str:
        end = time.time()
        invocation = _uuid4()
        method, path = clean(method, 32), _path_of(target)
        record = {
            "begin": _iso(end - elapsed / 1000), "end": _iso(end),
            "level": "INFO", "logger": "access",
            "RequestID": invocation, "InvocationID": invocation,
            "PartnerName": clean(client), "TransactionID": "-",
            "ServiceName": f"{method} {path}", "method": method, "path": path,
            "requestLine": escaped(line), "reason": escaped(reason, VALUE_LIMIT * 2),
            "StatusCode": "ERROR", "ResponseCode": status, "outcome": "refused",
            "ElapsedTime": round(elapsed, 1), "ClientIPAddress": clean(client),
            "server": self.host, "pid": self.pid, "BytesIn": 0, "BytesOut": sent,
        }
        return _to_json(record) + "\n"


class _Body:
    """The app's body, passed through; logs the request when closed."""

    def __init__(self, body: Iterable[bytes], finish: Callable[[], None],
                 exchange: _Exchange):
        self._body = body
        self._finish = finish
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        # A fresh pass each time: eventlet reads a sized body twice (once to
        # count its length), and only the pass that is sent counts.
        exchange = self._exchange
        exchange.sent, exchange.done = 0, False
        for chunk in self._body:
            exchange.sent += len(chunk)
            yield chunk
        exchange.done = True

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


class _SizedBody(_Body):
    """A body whose length the server may take (it then sends Content-Length)."""

    def __len__(self) -> int:
        return len(self._body)


def _path(environ: dict) -> str:
    """The path as the client sent it, escaped (percent-encoding kept)."""
    raw = environ.get("RAW_PATH_INFO")
    if raw is None:
        raw = quote(environ.get("PATH_INFO", ""), safe="/;=,:@!$&'()*+~")
    return clean(raw, PATH_LIMIT)


def _path_of(target: str) -> str:
    """A request target as read, escaped; `-` when none was."""
    return clean(target, PATH_LIMIT)


def _service_name(environ: dict, method: str) -> str:
    """The route template (bounded set of names), else the method and path."""
    found = routes.match(environ.get("PATH_INFO", ""))
    if found is not None:
        return f"{method} {routes.PREFIX}{found[0].template}"
    return f"{method} {clean(environ.get('PATH_INFO', ''), 128)}"


def _bytes_in(environ: dict) -> int:
    """Body bytes read from the client (the server's body counts them)."""
    received = getattr(environ.get(BODY), "received", None)
    if isinstance(received, int):
        return received
    length = environ.get("CONTENT_LENGTH") or "0"
    return int(length) if length.isdigit() else 0


# One encoder for every line (json.dumps with options builds one per call).
_to_json = json.JSONEncoder(separators=(",", ":")).encode
_iso_second = [-1, ""]


def _iso(seconds: float) -> str:
    """`2026-11-25T07:03:11.123Z` (UTC), formatting the seconds once per second."""
    whole = int(seconds)
    if whole != _iso_second[0]:
        _iso_second[:] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_iso_second[1]}.{int((seconds - whole) * 1000):03d}Z"


def _uuid4() -> str:
    """A random (version 4) UUID, from the OS's generator: forked workers never
    share a sequence. Formatted by hand: uuid.uuid4() costs three times more."""
    h = os.urandom(16).hex()
    return (f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-"
            f"{h[20:]}")

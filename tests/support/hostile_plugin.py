"""A plugin that misbehaves on purpose, on raw sockets on 127.0.0.1.

Each request's behaviour is its path's last segment (or what `program()` set
for the path):

- `echo`: a proper 200 with a JSON echo (method, target, headers, body).
- `slow`: the same echo, SLOW seconds after the request came (a healthy plugin
  that takes a moment).
- `cut_chunked`: chunked 200, two chunks, then close without the last chunk.
- `short_length`: `Content-Length: 100`, 20 bytes, close.
- `cut_chunked_big`, `short_length_big`: the same after BIG bytes (the answer
  has started reaching the client).
- `trickle_started`: BIG bytes at once, then like `trickle`.
- `close_framed`: neither length nor chunked; 5000 bytes, then close.
- `cl_and_chunked`: a stale `Content-Length: 5` with a chunked 30-byte body.
- `trickle`: `Content-Length: 1000`, then one byte every TRICKLE seconds.
- `trickle_head`: the status line and headers one byte every TRICKLE seconds.
- `hang`: read the request, never answer (until the peer goes away or stop()).
- `no_read`: read the head only, never the body, never answer.
- `drip`: `Content-Length: 3 * DRIP`, DRIP bytes, DRIP more after DRIP_GAP s,
  then wait for another request on the same connection: if one comes, record
  it, send the last DRIP bytes and then answer it (a half-read connection
  reused).
- `head_with_body`: answer HEAD with headers, then wait for another request on
  the connection: if one comes, send 10 junk bytes, then answer it.
- `capacity_yes`, `capacity_500`: a capacity_check answer.
- `reset`: read the request, then close with RST.

It records every request with the id of the connection it came on, how many
connections were open at once, and which connections the peer closed.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

LOCALHOST = "127.0.0.1"
TRICKLE = 0.2
SLOW = 0.2
DRIP_GAP = 0.5
BIG = 64 * 1024
DRIP = 64 * 1024  # above the server's write batching (4 KiB): each piece is sent on
WAIT_NEXT = 3.0  # how long a half-answered connection waits for a next request


@dataclass
class HostileRequest:
    conn_id: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class _Closed(Exception):
    pass


class HostilePlugin:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Small buffers: a plugin that stops reading fills them fast.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._sock.bind((LOCALHOST, 0))
        self._sock.listen(256)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{LOCALHOST}:{self.port}"
        self._stopping = threading.Event()
        self._next_id = 0
        self._open = 0
        self.max_open = 0
        self.requests: list[HostileRequest] = []
        self.closed_by_peer: set[int] = set()
        self._programs: dict[str, str] = {}
        self._conns: dict[int, socket.socket] = {}

    # -- control -----------------------------------------------------------
    def start(self) -> "HostilePlugin":
        threading.Thread(target=self._accept_loop, name="hostile", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._sock.close()
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            _close(conn)

    def reset(self) -> None:
        """Forget records and programs, close every connection (no idle ones left)."""
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            _close(conn)
        deadline = time.monotonic() + 5
        while self._open and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            self.requests.clear()
            self.closed_by_peer.clear()
            self._programs.clear()
            self.max_open = self._open

    @property
    def open_connections(self) -> int:
        return self._open

    def program(self, path: str, mode: str) -> None:
        with self._lock:
            self._programs[path] = mode

    def requests_to(self, path: str) -> list[HostileRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Wait (bounded) until predicate() holds; its last value."""
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.02)
        return bool(predicate())

    # -- serving -----------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._next_id += 1
                conn_id = self._next_id
                self._open += 1
                self.max_open = max(self.max_open, self._open)
                self._conns[conn_id] = conn
            threading.Thread(target=self._serve, args=(conn, conn_id), daemon=True).start()

    def _serve(self, conn: socket.socket, conn_id: int) -> None:
        reader = _Reader(conn)
        try:
            while True:
                request = reader.request(conn_id, read_body=True, peek_mode=self._mode)
                if request is None:
                    with self._lock:
                        self.closed_by_peer.add(conn_id)
                    return
                if not self._answer(conn, reader, request):
                    return
        except (_Closed, OSError):
            with self._lock:
                self.closed_by_peer.add(conn_id)
        finally:
            _close(conn)
            with self._lock:
                self._open -= 1
                self._conns.pop(conn_id, None)

    def _mode(self, target: str) -> str:
        path = target.split("?", 1)[0]
        with self._lock:
            return self._programs.get(path) or path.rstrip("/").rsplit("/", 1)[-1]

    def _record(self, request: HostileRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _answer(self, conn: socket.socket, reader: "_Reader", request: HostileRequest) -> bool:
        """Answer one request; False when the connection is to be closed."""
        self._record(request)
        mode = self._mode(request.target)
        if mode == "cut_chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n")
            return False
        if mode == "cut_chunked_big":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"%x\r\n%s\r\n" % (BIG, b"k" * BIG))
            return False
        if mode == "short_length":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 20)
            return False
        if mode == "short_length_big":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 * BIG)
                         + b"x" * BIG)
            return False
        if mode == "close_framed":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"c" * 5000)
            return False
        if mode == "cl_and_chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         b"f\r\n" + b"a" * 15 + b"\r\nf\r\n" + b"b" * 15 + b"\r\n0\r\n\r\n")
            return True
        if mode in ("trickle", "trickle_started"):
            # trickle_started sends a first part at once: the answer has begun.
            first = b"T" * BIG if mode == "trickle_started" else b""
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(first) + 1000, first))
            for _ in range(1000):
                time.sleep(TRICKLE)
                conn.sendall(b"t")
            return True
        if mode == "trickle_head":
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 200:
                conn.sendall(bytes([byte]))
                time.sleep(TRICKLE)
            return False
        if mode == "hang":
            if reader.wait_eof(60):
                with self._lock:
                    self.closed_by_peer.add(request.conn_id)
            return False
        if mode == "no_read":
            # Never read: the sender's buffers fill. Ends when reset()/stop() close it.
            deadline = time.monotonic() + 60
            while conn.fileno() != -1 and time.monotonic() < deadline:
                time.sleep(0.05)
            return False
        if mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # with linger 0: RST, not FIN
            return False
        if mode == "drip":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (3 * DRIP)
                         + b"1" * DRIP)
            time.sleep(DRIP_GAP)
            conn.sendall(b"2" * DRIP)
            return self._reused(conn, reader, request.conn_id, b"3" * DRIP)
        if mode == "head_with_body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            return self._reused(conn, reader, request.conn_id, b"j" * 10)
        if mode == "slow":
            time.sleep(SLOW)  # then the echo, below
        if mode == "capacity_yes":
            self._send_json(conn, 200, {"result": True, "AZs": []})
            return True
        if mode == "capacity_500":
            self._send_json(conn, 500, {"error": "boom"})
            return True
        self._send_json(conn, 200, {"method": request.method, "target": request.target,
                                    "headers": request.headers,
                                    "body": request.body.decode("latin-1")})
        return True

    def _reused(self, conn: socket.socket, reader: "_Reader", conn_id: int,
                leftover: bytes) -> bool:
        """A next request on a connection whose last answer was not finished:
        the leftover bytes go first (as a plugin that was still sending would)."""
        if not reader.wait_readable(WAIT_NEXT):
            return True  # nothing came: back to reading (EOF ends it)
        request = reader.request(conn_id, read_body=True, peek_mode=self._mode)
        if request is None:
            with self._lock:
                self.closed_by_peer.add(conn_id)
            return False
        conn.sendall(leftover)
        return self._answer(conn, reader, request)

    @staticmethod
    def _send_json(conn: socket.socket, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body))


class _Reader:
    """Reads requests off one connection."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.buf = b""

    def _more(self, timeout: float | None = None) -> None:
        self.conn.settimeout(timeout)
        data = self.conn.recv(65536)
        if not data:
            raise _Closed()
        self.buf += data

    def wait_readable(self, timeout: float) -> bool:
        if self.buf:
            return True
        try:
            self._more(timeout)
        except socket.timeout:
            return False
        except (_Closed, OSError):
            return True  # EOF is "readable": the caller sees it
        return True

    def wait_eof(self, timeout: float) -> bool:
        """True once the peer closed (or reset) the connection; False at `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.conn.settimeout(0.5)
                if not self.conn.recv(65536):
                    return True
            except socket.timeout:
                continue
            except OSError:
                return True
        return False

    def request(self, conn_id: int, read_body: bool, peek_mode) -> HostileRequest | None:
        try:
            while b"\r\n\r\n" not in self.buf:
                self._more()
        except (_Closed, OSError):
            return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1))
                   for line in lines[1:] if ":" in line]
        names = {k.lower(): v for k, v in headers}
        body = b""
        if read_body and peek_mode(target) != "no_read":
            body = self._body(names)
        return HostileRequest(conn_id, method, target, headers, body)  # type: ignore[arg-type]

    def _body(self, names: dict[str, str]) -> bytes:
        if "chunked" in names.get("transfer-encoding", "").lower():
            parts = []
            while True:
                while b"\r\n" not in self.buf:
                    self._more()
                line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._more()
                parts.append(self.buf[:size])
                self.buf = self.buf[size + 2:]
                if size == 0:
                    return b"".join(parts)
        length = int(names.get("content-length", "0") or 0)
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return body


def _close(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()

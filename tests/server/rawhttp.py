"""Raw-socket HTTP for hostile tests: send bytes no polite client sends, and
read exactly what the server answers and whether it then closes."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field

from tests.support.upstreams import LOCALHOST


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    rest: bytes = b""  # bytes after this answer (a second answer, if any)
    closed: bool = False  # the server closed the connection after answering
    raw: bytes = field(default=b"", repr=False)

    def json(self):
        return json.loads(self.body)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection((LOCALHOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_close(sock: socket.socket, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or `timeout` passes (False)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def parse(data: bytes, closed: bool = False) -> RawReply:
    """The first HTTP answer in `data` (Content-Length or chunked framed)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no complete answer in {data[:300]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        size = int(headers["content-length"])
        body, rest = rest[:size], rest[size:]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body, rest = _dechunk(rest)
    else:
        body, rest = rest, b""
    return RawReply(status, headers, body, rest, closed, data)


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return body, data.partition(b"\r\n")[2]
        body, data = body + data[:size], data[size + 2:]


def exchange(port: int, data: bytes, timeout: float = 10.0) -> RawReply:
    """Send `data` on a fresh connection; the first answer and whether it closed."""
    with connect(port, timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before taking everything: read the answer
        received, closed = read_until_close(sock, timeout)
    return parse(received, closed)


def read_answer(sock: socket.socket, timeout: float = 10.0) -> RawReply:
    """One whole answer from a kept-alive connection (not waiting for a close)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = parse(data)
            if _complete(reply):
                return reply
        except (AssertionError, ValueError, IndexError):
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no whole answer within {timeout}s: {data[:300]!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            return parse(data, closed=True)
        data += chunk


def _complete(reply: RawReply) -> bool:
    if "content-length" in reply.headers:
        return len(reply.body) == int(reply.headers["content-length"])
    return reply.headers.get("transfer-encoding", "").lower() == "chunked"


def request_bytes(method: str, path: str, headers: list[tuple[str, str]] | None = None,
                  body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

"""Raw-socket HTTP for hostile tests: send bytes no polite client sends, and
read exactly what the server answers and whether it then closes. Over TLS
too (`tls=True`: the test's own certificate, not verified)."""

from __future__ import annotations

import errno
import json
import selectors
import socket
import ssl
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


def client_tls() -> ssl.SSLContext:
    """A client context for the test brokers' self-signed certificates."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


CLIENT_TLS = client_tls()


def connect(port: int, timeout: float = 10.0, tls: bool = False) -> socket.socket:
    """A connection to 127.0.0.1:port; with `tls`, its handshake done."""
    sock = socket.create_connection((LOCALHOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return CLIENT_TLS.wrap_socket(sock) if tls else sock


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
        except (ConnectionResetError, ssl.SSLError):
            return data, True  # reset (over TLS, maybe seen as a broken record)
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


def exchange(port: int, data: bytes, timeout: float = 10.0, tls: bool = False) -> RawReply:
    """Send `data` on a fresh connection; the first answer and whether it closed."""
    with connect(port, timeout, tls) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError):
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


def connect_many(port: int, count: int, tls: bool = False, send: bytes = b"",
                 timeout: float = 60.0) -> list[socket.socket]:
    """`count` connections, each sending `send` once ready (within the server's
    header deadline, as a client would); over TLS their handshakes run side
    by side (one by one, a few thousand take many seconds of round trips)."""
    if not tls:
        socks = [connect(port) for _ in range(count)]
        for sock in socks:
            sock.sendall(send)
        return socks
    selector = selectors.DefaultSelector()
    for _ in range(count):
        raw = socket.socket()
        raw.setblocking(False)
        raw.connect_ex((LOCALHOST, port))
        selector.register(CLIENT_TLS.wrap_socket(raw, do_handshake_on_connect=False),
                          selectors.EVENT_WRITE)
    done: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    while selector.get_map():
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(selector.get_map())} TLS handshakes not done")
        for key, _ in selector.select(1.0):
            if _handshake_step(selector, key.fileobj):
                selector.unregister(key.fileobj)
                key.fileobj.settimeout(10.0)
                key.fileobj.sendall(send)
                done.append(key.fileobj)
    return done


def _handshake_step(selector: selectors.BaseSelector, conn: ssl.SSLSocket) -> bool:
    """One step of a non-blocking handshake: True once it is done."""
    try:
        conn.do_handshake()
        return True
    except ssl.SSLWantReadError:
        selector.modify(conn, selectors.EVENT_READ)
    except ssl.SSLWantWriteError:
        selector.modify(conn, selectors.EVENT_WRITE)
    except OSError as exc:
        if exc.errno not in (errno.ENOTCONN, errno.EAGAIN, errno.EINPROGRESS):
            raise  # anything but "still connecting"
    return False


def leave(sock: socket.socket) -> None:
    """Close as a client does: over TLS a close_notify first (as curl and
    browsers send it), then the FIN a moment later."""
    if isinstance(sock, ssl.SSLSocket):
        sock.setblocking(False)
        try:
            sock.unwrap()  # sends close_notify; the server's will never come
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        time.sleep(0.3)
    sock.close()

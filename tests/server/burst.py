"""Many concurrent HTTP/1.0 connections from one thread, with selectors."""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field


@dataclass
class BurstResult:
    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def burst(host: str, port: int, path: str, connections: int,
          timeout: float = 60.0) -> BurstResult:
    """Open `connections` sockets at once, send one GET on each, read every answer."""
    result = BurstResult()
    selector = selectors.DefaultSelector()
    request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    for _ in range(connections):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((host, port))
        selector.register(sock, selectors.EVENT_WRITE, bytearray())
    deadline = time.monotonic() + timeout
    while selector.get_map() and time.monotonic() < deadline:
        for key, events in selector.select(timeout=1.0):
            _step(selector, key, events, request, result)
    for key in list(selector.get_map().values()):
        result.errors.append("timed out")
        selector.unregister(key.fileobj)
        key.fileobj.close()
    return result


def _step(selector, key, events, request: bytes, result: BurstResult) -> None:
    sock = key.fileobj
    try:
        if events & selectors.EVENT_WRITE:
            sock.sendall(request)
            selector.modify(sock, selectors.EVENT_READ, key.data)
            return
        chunk = sock.recv(65536)
    except OSError as exc:
        result.errors.append(repr(exc))
        selector.unregister(sock)
        sock.close()
        return
    if chunk:
        key.data.extend(chunk)
        return
    selector.unregister(sock)
    sock.close()
    head = bytes(key.data).split(b"\r\n", 1)[0].split()
    if len(head) >= 2 and head[1].isdigit():
        result.statuses.append(int(head[1]))
    else:
        result.errors.append(f"no HTTP answer: {bytes(key.data[:80])!r}")

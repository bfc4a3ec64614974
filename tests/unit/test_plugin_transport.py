"""The OpenStack plugin's cloud transport (plugin/openstack/transport.py)
against a real socket server on 127.0.0.1 that answers as scripted: an
idle kept-alive connection that the cloud closed, or on which it sent bytes
no request asked for, is never used for the next call (a POST would
otherwise fail, or take those bytes for its answer)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from multicloud_broker.plugin.openstack.transport import Transport

TIMEOUTS = (5.0, 5.0)


class ScriptedCloud:
    """Accepts connections; answers each request with the next scripted
    answer. After an answer flagged `close`, the connection is closed; after
    one flagged `excess`, bytes follow once `go_on` is set. `done` is set once
    an answer's aftermath is over."""

    def __init__(self, answers: list[tuple[bytes, str]]):
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.go_on = threading.Event()
        self.done = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                self._converse(conn)

    def _converse(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        data = b""
        while self.answers:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(data) < length:
                data += conn.recv(65536)
            self.requests.append(head.split(b"\r\n")[0])
            data = data[length:]
            body, after = self.answers.pop(0)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            if after == "excess":
                self.go_on.wait(10)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"not you"')
                self.done.set()
                return self._drain(conn)
            if after == "close":
                conn.close()
                self.done.set()
                return

    def _drain(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def transport() -> Iterator[Transport]:
    yield Transport(10, "test")


def _call(transport: Transport, cloud: ScriptedCloud, method: str) -> bytes:
    raw = transport.open(method, cloud.url + "/v2.0/networks", "token", False, TIMEOUTS,
                         body=b"{}" if method == "POST" else None)
    try:
        return raw.read()
    finally:
        raw.release_conn()


def test_a_connection_the_cloud_closed_while_idle_is_not_used_for_a_post(
        transport: Transport) -> None:
    cloud = ScriptedCloud([(b'{"first": 1}', "close"), (b'{"second": 2}', "")])
    try:
        assert _call(transport, cloud, "GET") == b'{"first": 1}'
        assert cloud.done.wait(10)  # closed before the next call is made
        assert _call(transport, cloud, "POST") == b'{"second": 2}'
        assert cloud.connections == 2
        assert [r.split()[0] for r in cloud.requests] == [b"GET", b"POST"]  # once each
    finally:
        cloud.close()


def test_bytes_no_request_asked_for_are_not_taken_for_the_next_answer(
        transport: Transport) -> None:
    cloud = ScriptedCloud([(b'{"first": 1}', "excess"), (b'{"second": 2}', "")])
    try:
        assert _call(transport, cloud, "GET") == b'{"first": 1}'
        cloud.go_on.set()
        assert cloud.done.wait(10)  # the stray answer is on the idle connection
        assert _call(transport, cloud, "GET") == b'{"second": 2}'
        assert cloud.connections == 2
    finally:
        cloud.close()


def test_a_kept_alive_connection_is_reused(transport: Transport) -> None:
    cloud = ScriptedCloud([(b'{"first": 1}', ""), (b'{"second": 2}', "")])
    try:
        assert _call(transport, cloud, "GET") == b'{"first": 1}'
        assert _call(transport, cloud, "POST") == b'{"second": 2}'
        assert cloud.connections == 1
    finally:
        cloud.close()

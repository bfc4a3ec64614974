"""The gevent server keeps accepting after running out of descriptors
(EMFILE): it waits and retries, with one log line, where gevent's own
accept loop would log a traceback each time. No suite reaches this: it
needs a server process with a tiny open-file limit."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

SERVER = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import logging, os, resource, socket, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from multicloud_broker.server.gevent_server import BrokerServer, Connections, Limits

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    limits = Limits(header_timeout=5, keepalive_timeout=5, body_timeout=5,
                    socket_timeout=None, request_slots=10, max_header_line=1024,
                    url_length_limit=1024, keepalive=5)
    server = BrokerServer(listener, app, limits, Connections(100), None)
    server.start()
    # Room for a few connections only, beyond what is open now.
    open_now = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (open_now + 3, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    print(listener.getsockname()[1], flush=True)
    server.serve_forever()
""")


def _get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        return data


def test_accept_waits_when_descriptors_run_out_and_serves_again():
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    held: list[socket.socket] = []
    try:
        port = int(proc.stdout.readline())
        # More held connections than the server has descriptors for.
        for _ in range(8):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.5)
        for sock in held:
            sock.close()
        held.clear()
        deadline = time.monotonic() + 10
        answer = b""
        while time.monotonic() < deadline and not answer.endswith(b"ok"):
            try:
                answer = _get(port)
            except OSError:
                time.sleep(0.2)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
        assert proc.poll() is None, "the server stopped"
    finally:
        for sock in held:
            sock.close()
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert err.count("cannot accept connections: Too many open files; retrying") == 1, err
    assert "Traceback" not in err, err

"""A worker holding more than 1,024 connections: readiness checks on an
upstream socket whose descriptor is above FD_SETSIZE work under both
backends (gevent's select() refuses such descriptors: it was a 500 at
ab -c 1000 through the plugin chain)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
backend = sys.argv[1]
if backend == "gevent":
    from gevent import monkey; monkey.patch_all()
else:
    import eventlet; eventlet.monkey_patch()
import os, resource, socket
from multicloud_broker.core.upstream import _has_input
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
held = [os.dup(0) for _ in range(1100)]
a, b = socket.socketpair()
assert b.fileno() > 1024, b.fileno()
assert _has_input(b) is False
assert _has_input(b, 0.05) is False
a.sendall(b"x")
assert _has_input(b, 1.0) is True and b.recv(1) == b"x"
a.close()
assert _has_input(b, 1.0) is True  # the end
print("ok")
"""


@pytest.mark.parametrize("backend", ["eventlet", "gevent"])
def test_readiness_of_a_socket_above_fd_setsize(backend: str) -> None:
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT, backend],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr

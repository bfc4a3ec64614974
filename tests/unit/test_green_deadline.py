"""green.deadline under each backend: a block that waits past its deadline
(a socket read that keeps getting a byte now and then) is interrupted with
the given error."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
from multicloud_broker import green
green.prepare_server(sys.argv[1])
import socket, threading, time
a, b = socket.socketpair()
b.settimeout(2.0)  # each read: under its timeout, as a trickle keeps it

def trickle():
    for _ in range(40):
        a.sendall(b"x")
        time.sleep(0.1)

threading.Thread(target=trickle, daemon=True).start()
started = time.monotonic()
try:
    with green.deadline(0.5, TimeoutError("late")):
        while True:
            b.recv(1)
except TimeoutError as exc:
    print(str(exc), round(time.monotonic() - started, 1))
"""


@pytest.mark.parametrize("backend", ["eventlet", "gevent"])
def test_a_trickle_is_cut_at_the_deadline(backend: str) -> None:
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT, backend],
                          capture_output=True, text=True, timeout=60)
    word, seconds = done.stdout.split()
    # cut well before the 4 s the trickle would last
    assert word == "late" and 0.4 <= float(seconds) < 3.5, done.stdout + done.stderr

"""A real haproxy (Debian's package) in front of test brokers, with its runtime API.

The set-up installs haproxy with apt-get when it is missing and we are root;
callers skip with the reason only if that fails.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.broker import accepts
from tests.support.upstreams import LOCALHOST, free_port

BACKEND = "brokers"
# Health checks on /readyz: two failures in a row take a server out (one slow
# answer on a busy machine must not), two successes bring it back.
CHECK_INTERVAL_MS = 300


def find_or_install() -> tuple[str | None, str]:
    """(path of haproxy, "") or (None, why it could not be had)."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if found:
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "haproxy is not installed and we cannot install it (not root / no apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "haproxy"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(command)} failed: {exc}"
        if done.returncode != 0:
            return None, f"{' '.join(command)} failed: {done.stderr[-300:]}"
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    return (found, "") if os.access(found, os.X_OK) else (None, "haproxy missing after install")


def config(port: int, admin_socket: Path, servers: Sequence[tuple[str, int]]) -> str:
    """The load balancer of the fleet test, as an operator would write it."""
    lines = [
        "global",
        "    maxconn 4000",
        "    log stdout format raw local0 info",  # one line per request, in haproxy.log
        f"    stats socket {admin_socket} mode 600 level admin",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 30s",
        "    timeout http-keep-alive 60s",
        "    timeout check 2s",
        # Retry (on another server: redispatch) only when no connection could
        # be made: the request was not sent, so it cannot be doubled. A request
        # that reached a server is never retried (no empty-response, no 5xx).
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure",
        # Idle server connections are reused only by a client's later requests,
        # never for a client's first one.
        "    http-reuse safe",
        "frontend fleet",
        f"    bind {LOCALHOST}:{port}",
        f"    default_backend {BACKEND}",
        f"backend {BACKEND}",
        "    balance roundrobin",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        f"    default-server inter {CHECK_INTERVAL_MS}ms fall 2 rise 2",
    ]
    lines += [f"    server {name} {LOCALHOST}:{server_port} check"
              for name, server_port in servers]
    return "\n".join(lines) + "\n"


class HAProxy:
    """One haproxy process in the foreground (-db), stopped by its PID."""

    def __init__(self, binary: str, workdir: Path, servers: Sequence[tuple[str, int]]):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.admin_socket = workdir / "haproxy.sock"
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(config(self.port, self.admin_socket, servers))
        self.log_path = workdir / "haproxy.log"
        self._proc: subprocess.Popen | None = None

    def start(self) -> "HAProxy":
        check = subprocess.run([self.binary, "-c", "-f", str(self.config_path)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its config: {check.stdout}{check.stderr}")
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config_path)],
                                          stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.admin_socket.exists() or not accepts(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGUSR1)  # soft stop: finish, then exit
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)

    def command(self, line: str) -> str:
        """One runtime API command; haproxy's answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin_socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                data = sock.recv(65536)
                if not data:
                    return b"".join(chunks).decode()
                chunks.append(data)

    def status(self, server: str) -> str:
        """The server's status as `show stat` gives it: UP, DOWN, DRAIN, MAINT..."""
        return self._row(server).get("status", "")

    def _row(self, server: str) -> dict[str, str]:
        table = self.command("show stat").lstrip("# ")
        for row in csv.DictReader(io.StringIO(table)):
            if row.get("pxname") == BACKEND and row.get("svname") == server:
                return row
        raise KeyError(server)

    def current_sessions(self, server: str) -> int:
        """Requests haproxy has in flight at the server now (`scur`)."""
        return int(self._row(server).get("scur") or 0)

    def times_taken_down(self, server: str) -> int:
        """How often failed health checks took the server from UP to DOWN (`chkdown`)."""
        return int(self._row(server).get("chkdown") or 0)

    def set_state(self, server: str, state: str) -> None:
        """ready, drain or maint: what an orchestrator does to a backend server."""
        answer = self.command(f"set server {BACKEND}/{server} state {state}")
        if answer.strip():
            raise RuntimeError(f"haproxy: set server {server} state {state}: {answer}")

    def wait_status(self, server: str, wanted: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(server)
            if status.split(" ")[0] == wanted:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"haproxy server {server} is {status!r}, not "
                                     f"{wanted} after {timeout} s")
            time.sleep(0.05)

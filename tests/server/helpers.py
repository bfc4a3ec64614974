"""Helpers for the process tests: brokers with or without --workers, TLS probes,
worker discovery."""

from __future__ import annotations

import http.client
import os
import ssl
import subprocess
import time
from pathlib import Path

from tests.support.broker import BrokerProcess, BrokerStartError, broker_env
from tests.support.upstreams import PluginServer

FRAMEWORKS = ["django", "pecan"]
SLOW_PATH = "/api/multicloud-ocata/v0/proc_RegionOne/slow"
FAST_PATH = "/api/multicloud-ocata/v0/proc_RegionOne/fast"


def base_config(tmp: Path, plugin: PluginServer, **default: object) -> dict:
    return {
        "DEFAULT": {"graceful_shutdown_timeout": 20, **default},
        "inventory": {"backend": "sqlite", "sqlite_path": str(tmp / "inventory.sqlite")},
        "plugins": {"endpoints": {"multicloud-ocata": plugin.url}, "read_timeout": 15},
    }


class DefaultWorkersBroker(BrokerProcess):
    """BrokerProcess that can leave `--workers` out (workers=None) and serve HTTPS."""

    def __init__(self, *args, https: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.https = https

    def start(self, timeout: float = 20.0) -> "DefaultWorkersBroker":
        if not self.https:
            return super().start(timeout)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self._proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL, env=broker_env(None),
                                          cwd=str(self.workdir))
        wait_until(lambda: self._proc.poll() is not None or tls_answers(self.port), timeout)
        if self._proc.poll() is not None:
            raise BrokerStartError(f"broker exited {self._proc.returncode}\n{self.output()}")
        return self

    def command(self) -> list[str]:
        command = super().command()
        if self.workers is None:
            index = command.index("--workers")
            del command[index:index + 2]
        return command


def https_get(port: int, path: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    """GET over TLS on a fresh connection: (status, body)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def tls_answers(port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        return https_get(port, "/api/multicloud/v0/swagger.json", context)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def worker_pids(parent: int) -> set[int]:
    """The live child processes of the bootstrap process."""
    pids: set[int] = set()
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return {p for p in pids if _alive(p)}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll `predicate` until it returns something true; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0))

"""Helpers for the process tests: brokers with or without --workers, TLS probes,
worker discovery."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import ssl
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.broker import BrokerProcess, BrokerStartError, broker_env, child_pids
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
                                          stdin=subprocess.DEVNULL, env=broker_env(self._env),
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
    return {p for p in child_pids(parent) if _alive(p)}


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


def self_signed(tmp_path: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class LoadRun:
    """`connections` client threads sending GET `path` until stopped, each on a
    fresh connection (like ab without -k): counts answers and failures."""

    def __init__(self, port: int, path: str, connections: int = 100, timeout: float = 20.0):
        import threading
        self.port, self.path, self.timeout = port, path, timeout
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(connections)]

    @property
    def answered(self) -> int:
        with self._lock:
            return sum(self.statuses.values())

    def _client(self) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                conn.request("GET", self.path)
                reply = conn.getresponse()
                reply.read()
                outcome: int | str = reply.status
            except (OSError, http.client.HTTPException) as exc:
                outcome = repr(exc)
            finally:
                conn.close()
            with self._lock:
                if isinstance(outcome, int):
                    self.statuses[outcome] = self.statuses.get(outcome, 0) + 1
                else:
                    self.errors.append(outcome)

    def __enter__(self) -> "LoadRun":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)


def stderr_lines(broker, marker: str) -> list[str]:
    """The lines of the broker's stderr that contain `marker`."""
    return [line for line in broker.stderr_path.read_text(errors="replace").splitlines()
            if marker in line]

"""A real fakecloud process on 127.0.0.1 and a client speaking real HTTP to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import urllib3

SRC = Path(__file__).resolve().parents[2] / "src"
BUILD_SECONDS = 0.3
TOTALS = {"vcpus": 16, "memory_mb": 32768, "storage_gb": 500}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeCloud:
    """A started fakecloud process and an HTTP client for it."""

    def __init__(self, state_file: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state_file = state_file
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(SRC)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
            PYTHONWARNINGS="ignore")
        self.log = open(state_file.with_suffix(".log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "multicloud_broker.fakecloud", "--bind-host", "127.0.0.1",
             "--bind-port", str(self.port), "--state-file", str(state_file),
             "--build-seconds", str(BUILD_SECONDS),
             "--total-vcpus", str(TOTALS["vcpus"]),
             "--total-memory-mb", str(TOTALS["memory_mb"]),
             "--total-storage-gb", str(TOTALS["storage_gb"]), *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.http = urllib3.PoolManager(retries=False, timeout=10.0)
        self._wait_ready()

    def _wait_ready(self) -> None:
        for _ in range(200):  # up to ~10 s
            if self.proc.poll() is not None:
                raise RuntimeError(f"fakecloud exited with {self.proc.returncode}: "
                                   f"{self.state_file.with_suffix('.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("fakecloud did not start listening")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None, raw: bytes | None = None
                ) -> urllib3.BaseHTTPResponse:
        all_headers = dict(headers or {})
        if token:
            all_headers["X-Auth-Token"] = token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        return self.http.request(method, self.url + path, body=data, headers=all_headers)


class Region:
    """One fresh cloud region of the fakecloud, addressed through API v0 or v1."""

    def __init__(self, cloud: FakeCloud, plugin: str = "multicloud-ocata") -> None:
        self.cloud = cloud
        self.owner = "owner" + uuid.uuid4().hex[:6]
        self.region_id = "Region_" + uuid.uuid4().hex[:6]  # region ids may hold "_"
        self.vimid = f"{self.owner}_{self.region_id}"
        self.v0 = f"/api/{plugin}/v0/{self.vimid}"
        self.v1 = f"/api/{plugin}/v1/{self.owner}/{self.region_id}"
        self.token = ""
        self.tenant = ""

    def login(self) -> "Region":
        resp = self.cloud.request("POST", self.v0 + "/identity/v3/auth/tokens", {})
        assert resp.status == 201, resp.data
        self.token = resp.headers["X-Subject-Token"]
        tenants = self.get(self.v0 + "/tenants").json()["tenants"]
        self.tenant = tenants[0]["id"]
        return self

    def call(self, method: str, path: str, body: Any = None,
             **kw: Any) -> urllib3.BaseHTTPResponse:
        kw.setdefault("token", self.token)
        return self.cloud.request(method, path, body, **kw)

    def get(self, path: str, **kw: Any) -> urllib3.BaseHTTPResponse:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> urllib3.BaseHTTPResponse:
        return self.call("POST", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> urllib3.BaseHTTPResponse:
        return self.call("DELETE", path, **kw)

    def t(self, suffix: str, version: str = "v0") -> str:
        """A tenant-scoped path."""
        return (self.v0 if version == "v0" else self.v1) + f"/{self.tenant}{suffix}"

    def flavor(self, name: str) -> dict[str, Any]:
        return self.get(self.t(f"/flavors?name={name}")).json()["flavors"][0]

    def image(self) -> dict[str, Any]:
        return self.get(self.t("/images")).json()["images"][0]

    def wait_server(self, server_id: str, status: str) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for _ in range(100):  # BUILD lasts BUILD_SECONDS; bounded anyway
            doc = self.get(self.t(f"/servers/{server_id}")).json()
            if doc["status"] == status:
                return doc
            time.sleep(0.05)
        raise AssertionError(f"server {server_id} stayed {doc.get('status')}")

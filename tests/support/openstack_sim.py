"""The OpenStack simulator (multicloud_broker.simulators.openstack) as a real
process registered in a real Keystone's catalog, for tests.

`openstack_sim`: one simulator for the session (per xdist worker), in the
`keystone` fixture's catalog (RegionOne). `openstack_sim_process(...)`
starts one of a test's own (another region, other timings).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from multicloud_broker.simulators.openstack.catalog import CATALOG
from tests.support.broker import broker_env

READY = re.compile(r"openstack simulator on (http://\S+)")


class OpenStackSim:
    """A running simulator: its root URL and its /_sim/ control API."""

    def __init__(self, url: str, proc: subprocess.Popen, log: Path, region: str):
        self.url = url
        self.proc = proc
        self.log = log
        self.region = region

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_sim{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def fault(self, kind: str, service: str | None = None, count: int | None = 1,
              **fields: Any) -> dict:
        """Inject a fault (see the simulator's package docstring); its description."""
        spec: dict[str, Any] = {"kind": kind, "count": count, **fields}
        if service is not None:
            spec["service"] = service
        return self._call("POST", "/faults", spec)["fault"]

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def count(self) -> dict[str, int]:
        """Requests seen per service, and token validations sent to Keystone."""
        return self._call("GET", "/count")

    def reset_counts(self) -> None:
        self._call("DELETE", "/count")

    def flush_tokens(self) -> None:
        """Forget cached token validations (a revoked token is refused at once)."""
        self._call("DELETE", "/tokens")

    def seed_servers(self, project_id: str, count: int, prefix: str = "seed") -> int:
        """`count` ACTIVE servers of the project at once; how many there are now."""
        return self._call("POST", "/seed", {"servers": count, "project_id": project_id,
                                            "prefix": prefix})["servers"]

    def reset(self) -> None:
        """Everything back to the seeds: no servers, faults, counts or cached tokens."""
        self._call("POST", "/reset")

    def register(self, keystone: Any) -> None:
        """Point `keystone`'s catalog (this simulator's region) at this simulator
        again, as --register did at start: for a module that must not depend on
        what earlier tests did to the shared catalog."""
        for service_type, name, path in CATALOG:
            keystone.add_service(service_type, name, self.url + path, region=self.region)


# How long the test simulator keeps a stack (or server) building or deleting.
BUILD_SECONDS = 0.6


@contextmanager
def openstack_sim_process(workdir: Path, keystone: Any, region: str = "RegionOne",
                          register: bool = True, build_seconds: float = BUILD_SECONDS,
                          delete_seconds: float = 0.1,
                          extra_args: Sequence[str] = ()) -> Iterator[OpenStackSim]:
    """Run a simulator validating tokens with `keystone` (a LocalKeystone) and,
    with `register`, in its catalog under `region`. Output goes to
    workdir/openstack-sim.log; stopped by PID on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "openstack-sim.log"
    argv = [sys.executable, "-m", "multicloud_broker.simulators.openstack",
            "--bind-host", "127.0.0.1", "--bind-port", "0",
            "--keystone-url", keystone.url, "--admin-user", keystone.admin_user,
            f"--admin-password={keystone.admin_password}",
            "--admin-project", keystone.admin_project, "--region", region,
            "--build-seconds", str(build_seconds), "--delete-seconds", str(delete_seconds),
            "--image-dir", str(workdir / "images"), *extra_args]
    if register:
        argv.append("--register")
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=broker_env())
    try:
        url = _wait_ready(proc, log)
        yield OpenStackSim(url, proc, log, region)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen, log: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = READY.search(log.read_text(errors="replace"))
        if found:
            url = found.group(1)
            try:
                urllib.request.urlopen(url + "/", timeout=2).close()
                return url
            except (urllib.error.URLError, OSError):
                pass
        if proc.poll() is not None:
            raise RuntimeError(f"the OpenStack simulator exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    raise TimeoutError(f"the OpenStack simulator did not start:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="session", name="openstack_sim")
def openstack_sim_fixture(keystone: Any, tmp_path_factory: pytest.TempPathFactory
                          ) -> Iterator[OpenStackSim]:
    """A simulator in the session Keystone's catalog (RegionOne)."""
    with openstack_sim_process(tmp_path_factory.mktemp("openstack-sim"), keystone) as sim:
        yield sim

"""A real Prometheus server (Debian's `prometheus` package) scraping brokers.

The binary is run directly, with a temporary TSDB directory and a config
file of our own, on 127.0.0.1; never the packaged systemd service.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.support.upstreams import free_port

LOCALHOST = "127.0.0.1"


def prometheus_binary() -> tuple[str | None, str]:
    """(path of the prometheus binary, '') or (None, why there is none).

    Installs Debian's package as root when it is missing, as the benchmark
    installs `ab`."""
    found = shutil.which("prometheus")
    if found:
        return found, ""
    if os.geteuid() != 0:
        return None, "prometheus is not installed and installing it needs root"
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "prometheus"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(command)} failed: {exc}"
        if done.returncode != 0:
            return None, (f"{' '.join(command)} failed ({done.returncode}): "
                          f"{done.stderr.strip()[-300:]}")
    found = shutil.which("prometheus")
    return (found, "") if found else (None, "apt-get installed no prometheus binary")


class PrometheusServer:
    """Prometheus scraping `targets` (host:port) every `interval` as job `job`."""

    def __init__(self, binary: str, workdir: Path, targets: list[str],
                 job: str = "broker", interval: str = "1s"):
        self.binary = binary
        self.workdir = Path(workdir)
        self.job = job
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        self.config = self.workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            f"  scrape_interval: {interval}\n"
            f"  evaluation_interval: {interval}\n"
            "scrape_configs:\n"
            f"  - job_name: {job}\n"
            f"    scrape_interval: {interval}\n"
            "    scrape_timeout: 900ms\n"
            "    metrics_path: /metrics\n"
            "    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
        self.log = self.workdir / "prometheus.log"
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "PrometheusServer":
        with open(self.log, "wb") as log:
            self._proc = subprocess.Popen(
                [self.binary, f"--config.file={self.config}",
                 f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                 f"--web.listen-address={LOCALHOST}:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {self._proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready within {timeout}s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def query(self, expr: str) -> list[dict]:
        """The instant vector of `expr` (Prometheus's HTTP API /api/v1/query)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            doc = json.load(answer)
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single value of `expr`, or None when it has no series."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def last_scrape(self) -> float:
        """When the last successful scrape of the job started (Unix time), 0 if none."""
        # timestamp() of a plain selector: the sample's own time (of an
        # expression such as `up == 1` it would be the evaluation's).
        when = self.value(f'max(timestamp(up{{job="{self.job}"}}))')
        return when if when and self.value(f'min(up{{job="{self.job}"}})') == 1 else 0.0

    def wait_scrape_after(self, moment: float, timeout: float = 15.0) -> None:
        """Wait for a successful scrape that started after `moment`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.last_scrape() > moment:
                return
            time.sleep(0.2)
        raise AssertionError(f"no successful scrape of {self.job} after {moment} within "
                             f"{timeout}s: {self.log.read_text(errors='replace')[-2000:]}")

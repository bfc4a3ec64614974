"""The simulated cloud as a real process (`multicloud-broker fakecloud`), for tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.broker import broker_env
from tests.support.client import request
from tests.support.upstreams import LOCALHOST, free_port


@contextmanager
def fakecloud_process(workdir: Path, build_seconds: float | None = None,
                      env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a fakecloud on 127.0.0.1 with its state in `workdir`; yields its base URL.

    Its output goes to workdir/fakecloud.log; it is stopped by PID on exit.
    """
    port = free_port()
    argv = [sys.executable, "-m", "multicloud_broker", "fakecloud", "--bind-host", LOCALHOST,
            "--bind-port", str(port), "--state-file", str(workdir / "state.sqlite")]
    if build_seconds is not None:
        argv += ["--build-seconds", str(build_seconds)]
    with open(workdir / "fakecloud.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=broker_env(env))
    url = f"http://{LOCALHOST}:{port}"
    try:
        _wait_answering(proc, url, workdir / "fakecloud.log")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_answering(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fakecloud exited with {proc.returncode}: {log.read_text()}")
        try:
            request(url, "GET", "/", timeout=1)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("fakecloud did not answer in time")

"""`make run` (scripts/run-demo.sh) as a newcomer sees it: Keystone, the
OpenStack simulator and plugin, the simulated plugin, the regions, the broker
serving, and on the screen only lines of ours: no warning or traceback of a
dependency. Stopped with Ctrl-C, as they would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.broker import REPO_ROOT, broker_env
from tests.support.client import request
from tests.support.upstreams import free_port

# What may appear on stderr: the broker's log records, and the simulated
# cloud's eventlet WSGI log (its start line and access lines).
OURS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ [A-Z]+ \S+ "
                  r"|\(\d+\) (wsgi starting up|accepted) "
                  r"|127\.0\.0\.1 - - \[")


@pytest.mark.timeout(300)
def test_make_run_serves_and_shows_only_our_own_lines(tmp_path: Path) -> None:
    port = free_port()
    env = broker_env({"BIN": str(Path(sys.executable).parent), "BROKER_PORT": str(port),
                      "DEMO_DIR": str(tmp_path),
                      **{name: str(free_port()) for name in (
                          "CLOUD_PORT", "PLUGIN_PORT", "KEYSTONE_PORT", "OPENSTACK_PORT")}})
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        # A session of its own: Ctrl-C reaches the script and what it started.
        script = subprocess.Popen(["bash", str(REPO_ROOT / "scripts" / "run-demo.sh")],
                                  stdout=out, stderr=err, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        reply = _when_up(url, script)
        assert reply.status == 200 and reply.json()
        capacity = request(url, "POST", "/api/multicloud/v0/check_vim_capacity",
                           body=json.dumps({"vCPU": 1, "Memory": 1, "Storage": 1,
                                            "VIMs": ["demo_RegionOne"]}).encode(),
                           headers={"Content-Type": "application/json"})
        assert capacity.json() == {"VIMs": ["demo_RegionOne"]}  # the simulated cloud answered
        tenants = request(url, "GET", "/api/multicloud/v0/demo_OpenStack/tenants")
        assert tenants.status == 200, tenants  # the plugin, Keystone: the real chain
        assert [t["name"] for t in tenants.json()["tenants"]] == ["admin"]
    finally:
        os.killpg(script.pid, signal.SIGINT)
        script.wait(timeout=30)
    stdout, stderr = ((tmp_path / name).read_text() for name in ("out", "err"))
    assert "added demo/RegionOne" in stdout and f"127.0.0.1:{port}" in stdout
    for line in (stdout + stderr).splitlines():
        assert "warning" not in line.lower() and "Traceback" not in line, line
    for line in stderr.splitlines():
        assert OURS.match(line), f"not a line of ours: {line!r}\n{stderr}"


def _when_up(url: str, script: subprocess.Popen):
    deadline = time.monotonic() + 100  # a first Keystone build takes a minute
    while time.monotonic() < deadline:
        assert script.poll() is None, "run-demo.sh stopped"
        try:
            return request(url, "GET", "/api/multicloud/v0/vim_types", timeout=2)
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the broker did not answer within 100 s")

"""`make run` (scripts/run-demo.sh) as a newcomer sees it: Keystone, the
OpenStack simulator and plugin, the demo region, the broker serving, the
commands it prints, and on the screen only lines of ours: no warning or
traceback of a dependency. Stopped with Ctrl-C, as they would."""

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

from tests.support.broker import REPO_ROOT, broker_env, run_cli
from tests.support.client import request
from tests.support.upstreams import free_port

# What may appear on stderr: the broker's and the plugin's log records.
OURS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ [A-Z]+ \S+ ")


@pytest.mark.timeout(420)
def test_make_run_serves_and_shows_only_our_own_lines(tmp_path: Path) -> None:
    port = free_port()
    env = broker_env({"BIN": str(Path(sys.executable).parent), "BROKER_PORT": str(port),
                      "DEMO_DIR": str(tmp_path),
                      **{name: str(free_port()) for name in (
                          "PLUGIN_PORT", "KEYSTONE_PORT", "OPENSTACK_PORT")}})
    # The script keeps a demo directory's Keystone password; one it made
    # itself may start with "-" (token_urlsafe: 1 in 64), and must still be
    # passed on as a value, not taken for an option.
    (tmp_path / "keystone-admin-password").write_text("-like-an-option\n")
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        # A session of its own: Ctrl-C reaches the script and what it started.
        script = subprocess.Popen(["bash", str(REPO_ROOT / "scripts" / "run-demo.sh")],
                                  stdout=out, stderr=err, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        reply = _when_up(url, script, tmp_path / "err")
        assert reply.status == 200 and reply.json()
        capacity = request(url, "POST", "/api/multicloud/v0/check_vim_capacity",
                           body=json.dumps({"vCPU": 1, "Memory": 1, "Storage": 1,
                                            "VIMs": ["demo_RegionOne"]}).encode(),
                           headers={"Content-Type": "application/json"})
        # The plugin answered from the simulated OpenStack's own numbers.
        assert capacity.json() == {"VIMs": ["demo_RegionOne"]}, capacity
        too_big = request(url, "POST", "/api/multicloud/v0/check_vim_capacity",
                          body=json.dumps({"vCPU": 10 ** 6, "VIMs": ["demo_RegionOne"]}
                                          ).encode(),
                          headers={"Content-Type": "application/json"})
        assert too_big.json() == {"VIMs": []}, too_big
        for version in ("v0/demo_RegionOne", "v1/demo/RegionOne"):
            tenants = request(url, "GET", f"/api/multicloud/{version}/tenants")
            assert tenants.status == 200, tenants  # the plugin, Keystone: the real chain
            assert [t["name"] for t in tenants.json()["tenants"]] == ["admin"]
        _every_openstack_version_reaches_the_plugin(url, tmp_path, env)
    finally:
        os.killpg(script.pid, signal.SIGINT)
        script.wait(timeout=30)
    stdout, stderr = ((tmp_path / name).read_text() for name in ("out", "err"))
    assert "added demo/RegionOne" in stdout and f"127.0.0.1:{port}" in stdout
    # The demo's command as printed: the admin's password from the demo's file.
    assert (f"OS_PASSWORD=$(cat {tmp_path}/keystone-admin-password) "
            f"{Path(sys.executable).parent}/multicloud-broker demo volte "
            f"--broker http://127.0.0.1:{port}") in stdout, stdout
    for line in (stdout + stderr).splitlines():
        assert "warning" not in line.lower() and "Traceback" not in line, line
    for line in stderr.splitlines():
        assert OURS.match(line), f"not a line of ours: {line!r}\n{stderr}"


def _every_openstack_version_reaches_the_plugin(url: str, demo_dir: Path,
                                                env: dict[str, str]) -> None:
    """The plugin answers under each OpenStack plugin name of the catalog, and a
    region of another OpenStack version, added as a user would, is served."""
    plugin = f"http://127.0.0.1:{env['PLUGIN_PORT']}"
    for name in ("pike", "titaniumcloud", "starlingx"):
        reply = request(plugin, "GET", f"/api/multicloud-{name}/v0/demo_RegionOne/tenants")
        assert reply.status == 200, (name, reply)
    password = (demo_dir / "keystone-admin-password").read_text().strip()
    added = run_cli(["region", "add", "--config-file", "etc/demo.conf",
                     "--config-file", str(demo_dir / "demo-run.conf"),
                     "--cloud-owner", "demo", "--cloud-region-id", "StarlingX",
                     "--cloud-type", "openstack", "--cloud-region-version", "starlingx",
                     "--auth-url", f"http://127.0.0.1:{env['KEYSTONE_PORT']}/v3",
                     "--username", "admin", "--password-env", "DEMO_PASSWORD",
                     "--project", "admin", "--openstack-region", "RegionOne"],
                    env={"DEMO_PASSWORD": password})
    assert added.returncode == 0, added.stderr
    reply = request(url, "GET", "/api/multicloud/v0/demo_StarlingX/tenants")
    assert reply.status == 200, reply


def _when_up(url: str, script: subprocess.Popen, err: Path):
    # A bound, not a speed test: a busy machine may take minutes to start the chain.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert script.poll() is None, f"run-demo.sh stopped: {err.read_text()[-1500:]}"
        try:
            return request(url, "GET", "/api/multicloud/v0/vim_types", timeout=2)
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the broker did not answer within 240 s")

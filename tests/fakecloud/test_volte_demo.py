"""The VoLTE demo, pointed straight at the fakecloud (--api-prefix names the
plugin); the run through the broker is the lead's end-to-end test."""

import os
import subprocess
import sys

import pytest
from fakecloud_support import SRC, FakeCloud, Region


def demo(*args):
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "multicloud_broker.demo.volte", *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("api", ["v0", "v1"])
def test_volte_demo_deploys_and_removes_the_service(fakecloud: FakeCloud, api):
    region = Region(fakecloud)
    result = demo("--api", api, "--broker", fakecloud.url, "--api-prefix", "multicloud-ocata",
                  "--cloud-owner", region.owner, "--cloud-region-id", region.region_id)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "get a token" in out and "capacity_check" in out and "FAILED" not in out
    if api == "v0":
        assert out.count("boot server") == 5
        assert "all ACTIVE" in out
        assert out.count("delete port") == 12
    else:
        assert "CREATE_COMPLETE" in out and "delete infra_workload" in out
    # Nothing is left behind in the region.
    region.login()
    for kind in ("servers", "ports", "networks", "subnets"):
        assert region.get(region.t(f"/{kind}")).json()[kind] == []
    assert region.get(region.v1 + "/infra_workload").json()["workloads"] == []


def test_volte_demo_fails_clearly_when_nothing_listens():
    from fakecloud_support import free_port
    result = demo("--broker", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot reach the broker" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_volte_demo_stops_at_the_first_failure_and_cleans_up(tmp_path):
    # A cloud too small for the service: booting the last server fails.
    cloud = FakeCloud(tmp_path / "small.sqlite", "--total-vcpus", "8")
    try:
        region = Region(cloud)
        result = demo("--broker", cloud.url, "--api-prefix", "multicloud-ocata",
                      "--cloud-owner", region.owner, "--cloud-region-id", region.region_id)
        assert result.returncode == 1
        assert "FAILED" in result.stdout and "Quota exceeded" in result.stderr
        assert "Traceback" not in result.stderr
        region.login()
        assert region.get(region.t("/servers")).json()["servers"] == []
        assert region.get(region.t("/networks")).json()["networks"] == []
    finally:
        cloud.stop()

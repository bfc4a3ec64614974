"""The VoLTE flow end to end: demo command -> broker (several workers) ->
simulated cloud, all real processes on 127.0.0.1, under both frameworks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.broker import BrokerProcess, broker_env, region_add, write_config
from tests.support.fakecloud import fakecloud_process

PLUGINS = ("multicloud-ocata", "multicloud-pike", "multicloud-titaniumcloud",
           "multicloud-starlingx", "multicloud-vio", "multicloud-azure")


@pytest.fixture(scope="module")
def fakecloud(tmp_path_factory):
    with fakecloud_process(tmp_path_factory.mktemp("fakecloud"), build_seconds=0.3) as url:
        yield url


@pytest.fixture(scope="module", params=["django", "pecan"])
def broker(request, tmp_path_factory, fakecloud):
    workdir = tmp_path_factory.mktemp(f"broker-{request.param}")
    config = {
        "inventory": {"backend": "sqlite", "sqlite_path": str(workdir / "inventory.sqlite")},
        "plugins": {"endpoints": {name: fakecloud for name in PLUGINS}},
    }
    region_add(write_config(workdir / "region.conf", config),
               "demo", "RegionOne", "openstack", "ocata")
    with BrokerProcess(workdir, config, web_framework=request.param, workers=2) as process:
        yield process


@pytest.mark.timeout(120)
@pytest.mark.parametrize("api", ["v0", "v1"])
def test_volte_flow_through_the_broker(broker, api):
    done = subprocess.run(
        [sys.executable, "-m", "multicloud_broker", "demo", "volte", "--api", api,
         "--broker", broker.url, "--cloud-owner", "demo", "--cloud-region-id", "RegionOne"],
        capture_output=True, text=True, timeout=100, env=broker_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout
    assert "deployed, checked and removed" in done.stdout
    assert "check_vim_capacity" in done.stdout  # the broker's own fan-out was used
    if api == "v0":
        assert done.stdout.count("boot server") == 5
        assert "all ACTIVE" in done.stdout
    else:
        assert "CREATE_COMPLETE" in done.stdout
    # Every call went through the broker's workers: its access log saw them.
    log = broker.stdout_path.read_text()
    assert "/api/multicloud/" + ("v0/demo_RegionOne" if api == "v0"
                                 else "v1/demo/RegionOne/infra_workload") in log


def test_demo_fails_clearly_for_an_unknown_region(broker):
    done = subprocess.run(
        [sys.executable, "-m", "multicloud_broker", "demo", "volte", "--broker", broker.url,
         "--cloud-owner", "nobody", "--cloud-region-id", "Nowhere"],
        capture_output=True, text=True, timeout=60, env=broker_env())
    assert done.returncode == 1
    assert "404" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr

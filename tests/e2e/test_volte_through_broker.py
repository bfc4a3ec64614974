"""The VoLTE flow end to end: demo command -> broker (several workers) ->
simulated cloud, all real processes on 127.0.0.1, under both frameworks."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.support.broker import BrokerProcess, broker_env, region_add, write_config
from tests.support.client import request
from tests.support.upstreams import LOCALHOST, free_port

PLUGINS = ("multicloud-ocata", "multicloud-pike", "multicloud-titaniumcloud",
           "multicloud-starlingx", "multicloud-vio", "multicloud-azure")


@pytest.fixture(scope="module")
def fakecloud(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fakecloud")
    port = free_port()
    log = open(workdir / "fakecloud.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "multicloud_broker", "fakecloud", "--bind-host", LOCALHOST,
         "--bind-port", str(port), "--state-file", str(workdir / "state.sqlite"),
         "--build-seconds", "0.3"],
        stdout=log, stderr=subprocess.STDOUT, env=broker_env())
    url = f"http://{LOCALHOST}:{port}"
    try:
        _wait_listening(proc, url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_listening(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fakecloud exited with {proc.returncode}")
        try:
            request(url, "GET", "/", timeout=1)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("fakecloud did not listen in time")


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

"""Schemathesis against the running broker, under both frameworks.

The broker serves its Swagger document; schemathesis reads it from the broker
and sends what it generates from it (valid and invalid path parameters and
bodies, unlisted methods, missing bodies, wrong content types...), with every
check it has, to a broker with a real region in its sqlite inventory and the
simulated cloud (`multicloud-broker fakecloud`, a real process) as that
region's plugin. Any failure is either the document or the broker being
wrong, and the test prints schemathesis's own account of it.

Bounded and reproducible: a fixed number of examples per operation and
deterministic generation (Hypothesis derandomized: the same cases every run,
so no seed is needed). Half the generated vim ids and regions are replaced
by the real region (schema_fuzz_hooks.py), and the calls carry a token of
the cloud, so that they reach the cloud's resources.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import REPO_ROOT, BrokerProcess, region_add, write_config
from tests.support.client import request
from tests.support.fakecloud import fakecloud_process

PLUGINS = ("multicloud-ocata", "multicloud-pike", "multicloud-titaniumcloud",
           "multicloud-starlingx", "multicloud-vio", "multicloud-azure")
# The region the document's examples name, so that examples reach the cloud.
OWNER, REGION = "CloudOwner", "RegionOne"
SCHEMA_PATH = "/api/multicloud/v0/swagger.json"
MAX_EXAMPLES = 50
MAX_VIMS = 8
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]  # its CLI, of this venv

# Checks are all on. Two expectations are the API's, not schemathesis's defaults:
# - 413 (more VIMs than capacity_max_vims, or a body over the limit) is a
#   rejection of invalid data, like 400;
# - a forwarded call's answer is the plugin's (API.md: "whatever the status"):
#   valid-looking data may be refused by the plugin (400, 405, 409...).
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
include-path-regex = "^/api/multicloud/v[01]/\\\\{(vimid|cloud_owner)\\\\}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "4xx"]
"""


@pytest.fixture(scope="module")
def fakecloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fakecloud_process(tmp_path_factory.mktemp("fuzz-cloud"), build_seconds=0.1) as url:
        yield url


@pytest.fixture(scope="module", params=["django", "pecan"])
def fuzzed_broker(server_backend: str, request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory,
                  fakecloud: str) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    config = {
        "DEFAULT": {"graceful_shutdown_timeout": 2},
        "inventory": {"backend": "sqlite", "sqlite_path": str(workdir / "inventory.sqlite")},
        "plugins": {"endpoints": {name: fakecloud for name in PLUGINS},
                    "connect_timeout": 1, "read_timeout": 5, "capacity_timeout": 5,
                    # Small, so that generated lists go past it (413).
                    "capacity_max_vims": MAX_VIMS},
    }
    region_add(write_config(workdir / "region.conf", config), OWNER, REGION,
               "openstack", "ocata")
    with BrokerProcess(workdir, config, web_framework=request.param, workers=2,
                       name=f"fuzz-{request.param}") as broker:
        yield broker


def _login(broker: BrokerProcess) -> str:
    """Register the region with its cloud and get a token, through the broker,
    so that tenant-scoped calls reach the cloud's resources, not its 401."""
    vim = f"/api/multicloud/v0/{OWNER}_{REGION}"
    json_headers = {"Content-Type": "application/json"}
    reply = request(broker.url, "POST", f"{vim}/registry", headers=json_headers,
                    body=json.dumps({"defaultTenant": "demo"}).encode())
    assert reply.status == 202, reply
    reply = request(broker.url, "POST", f"{vim}/identity/v3/auth/tokens", body=b"{}",
                    headers=json_headers)
    assert reply.status == 201, reply
    return reply.header("X-Subject-Token")


def _documented_operations(broker: BrokerProcess) -> set[str]:
    """Every "METHOD /path" of the served document."""
    reply = request(broker.url, "GET", SCHEMA_PATH)
    assert reply.status == 200, reply
    doc = reply.json()
    # The configured bound is the documented one.
    for version in ("V0", "V1"):
        vims = doc["definitions"][f"CapacityRequest{version}"]["properties"]["VIMs"]
        assert vims["maxItems"] == MAX_VIMS, vims
    paths = doc["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


@pytest.mark.timeout(300)
def test_schemathesis_finds_nothing_wrong(fuzzed_broker: BrokerProcess,
                                         tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.schema_fuzz_hooks",
           "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [*SCHEMATHESIS, "--config-file", str(config), "run",
         fuzzed_broker.url + SCHEMA_PATH, "--checks", "all",
         "--header", f"X-Auth-Token: {_login(fuzzed_broker)}",
         "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic",
         # One worker: Python 3.11.7's ast.parse is not thread-safe, and
         # Hypothesis parses sources while generating (a SystemError otherwise).
         "--workers", "1", "--request-timeout", "10", "--no-color",
         "--report", "junit", "--report-junit-path", str(junit)],
        capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
    report = done.stdout[-30000:] + done.stderr[-5000:]
    assert junit.exists(), report
    cases, failed = _junit_cases(junit)
    assert failed == [] and done.returncode == 0, report
    # Every operation was exercised (a run that tested nothing would pass too),
    # but the document itself, which schemathesis leaves out.
    assert _documented_operations(fuzzed_broker) - {f"GET {SCHEMA_PATH}"} == cases, report
    # No exception behind an answer either (one raised after the status was sent
    # would not show as a 500).
    log = fuzzed_broker.stderr_path.read_text(errors="replace")
    assert "Traceback" not in log and "unexpected error" not in log, log[-5000:]


def _junit_cases(path: Path) -> tuple[set[str], list[str]]:
    """(every test case's name, the names of those with a failure or an error)."""
    root = ET.parse(path).getroot()
    cases, failed = set(), []
    for case in root.iter("testcase"):
        name = case.get("name", "")
        cases.add(name)
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
    return cases, failed

"""Schemathesis against the running broker, under both frameworks.

The broker serves its Swagger document; schemathesis reads it from the broker
and sends what it generates from it (valid and invalid path parameters and
bodies, unlisted methods, missing bodies, wrong content types...), with every
check it has, to a broker with a real region in its sqlite inventory and a
small plugin of the test's own (a real HTTP server on 127.0.0.1) behind it:
the fuzz is about the broker's contract, and a forwarded call's answer is the
plugin's, whatever it is. The plugin answers each forwarded path in one of
the ways a plugin does (200 with a JSON echo, 201, or a 404 in ONAP's error
shape), chosen from the path alone, and says yes to every capacity check
with an availability zone. Any failure is either the document or the broker
being wrong, and the test prints schemathesis's own account of it.

Bounded and reproducible: a fixed number of examples per operation and
deterministic generation (Hypothesis derandomized: the same cases every run,
so no seed is needed). Half the generated vim ids and regions are replaced
by the real region (schema_fuzz_hooks.py), so that they reach the plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import REPO_ROOT, BrokerProcess, region_add, write_config
from tests.support.client import request
from tests.support.upstreams import PluginServer, RecordedRequest

PLUGINS = ("multicloud-ocata", "multicloud-pike", "multicloud-titaniumcloud",
           "multicloud-starlingx", "multicloud-vio", "multicloud-azure")
# The region the document's examples name, so that examples reach the plugin.
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


class FuzzPlugin(PluginServer):
    """A plugin whose answer depends on the forwarded path only (runs stay
    reproducible): an echo (200), a creation (201) or a refusal in ONAP's
    error shape (404), so that the broker passes on more than one kind of
    answer. Capacity checks are programmed (`answer_capacity`)."""

    def _respond(self, handler: Any, recorded: RecordedRequest) -> None:
        kind = sum(recorded.path.encode()) % 3
        if kind == 0 or self._behaviour_for(recorded.method, recorded.path) is not None:
            super()._respond(handler, recorded)  # the echo, or a programmed answer
            return
        status, doc = ((201, {"id": "fuzz-1", "path": recorded.path}) if kind == 1 else
                       (404, {"error": f"no such resource: {recorded.path}"}))
        handler.send_reply(status, json.dumps(doc).encode(),
                           [("Content-Type", "application/json")])


@pytest.fixture(scope="module")
def fuzz_plugin() -> Iterator[PluginServer]:
    with FuzzPlugin() as plugin:
        azs = [{"availability-zone-name": "nova", "vCPUAvail": 8, "vCPUTotal": 16}]
        plugin.answer_capacity(f"/api/multicloud-ocata/v0/{OWNER}_{REGION}/capacity_check",
                               True)
        plugin.answer_capacity(f"/api/multicloud-ocata/v1/{OWNER}/{REGION}/capacity_check",
                               True, azs)
        yield plugin


@pytest.fixture(scope="module", params=["django", "pecan"])
def fuzzed_broker(server_backend: str, request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory,
                  fuzz_plugin: PluginServer) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    config = {
        "DEFAULT": {"graceful_shutdown_timeout": 2},
        "inventory": {"backend": "sqlite", "sqlite_path": str(workdir / "inventory.sqlite")},
        "plugins": {"endpoints": {name: fuzz_plugin.url for name in PLUGINS},
                    "connect_timeout": 1, "read_timeout": 5, "capacity_timeout": 5,
                    # Small, so that generated lists go past it (413).
                    "capacity_max_vims": MAX_VIMS},
    }
    region_add(write_config(workdir / "region.conf", config), OWNER, REGION,
               "openstack", "ocata")
    with BrokerProcess(workdir, config, web_framework=request.param, workers=2,
                       name=f"fuzz-{request.param}") as broker:
        yield broker


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
                                         fuzz_plugin: PluginServer, tmp_path: Path) -> None:
    fuzz_plugin.clear_requests()
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.schema_fuzz_hooks",
           "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [*SCHEMATHESIS, "--config-file", str(config), "run",
         fuzzed_broker.url + SCHEMA_PATH, "--checks", "all",
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
    # The region's calls reached the plugin, capacity checks of both versions too.
    reached = {r.path.split("/")[3] for r in fuzz_plugin.requests
               if r.path.startswith("/api/multicloud-ocata/") and OWNER in r.path}
    assert reached == {"v0", "v1"}, reached
    assert {r.path.split("/")[3] for r in fuzz_plugin.requests
            if r.path.endswith("/capacity_check")} == {"v0", "v1"}
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

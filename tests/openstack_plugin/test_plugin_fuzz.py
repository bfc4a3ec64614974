"""Schemathesis against the OpenStack plugin's own Swagger document, on the
real chain (Keystone, the simulator), under both frameworks: every check
schemathesis has, a bounded number of deterministic examples per operation.
Half the generated regions and tenants are the real ones
(plugin_fuzz_hooks.py), so calls reach the cloud."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.openstack_plugin.conftest import OWNER, PLUGIN, REGION, Chain
from tests.support.broker import REPO_ROOT
from tests.support.client import request

MAX_EXAMPLES = 5
# Two expectations are the API's: 413 is a rejection of invalid data; and a
# call the document allows may still be refused by the cloud (a generated
# network id that does not exist: 404; a name the cloud refuses: 400; a
# volume over the tenant's quota: Cinder's 413, Nova's 403).
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "403", "404", "409", "413"]
"""


@pytest.mark.timeout(300)
def test_schemathesis_finds_nothing_wrong_in_the_plugin(chain: Chain, tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    junit = tmp_path / "junit.xml"
    schema = f"{chain.plugin.url}/api/{PLUGIN}/v0/swagger.json"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.openstack_plugin.plugin_fuzz_hooks",
           "PYTHONPATH": str(REPO_ROOT), "FUZZ_OWNER": OWNER, "FUZZ_REGION": REGION,
           "FUZZ_TENANT": chain.tenant}
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file",
         str(tmp_path / "schemathesis.toml"), "run", schema, "--url", chain.plugin.url,
         "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
         "--generation-deterministic", "--workers", "1", "--request-timeout", "40",
         "--no-color", "--report", "junit", "--report-junit-path", str(junit)],
        capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
    report = done.stdout[-30000:] + done.stderr[-5000:]
    assert junit.exists(), report
    root = ET.parse(junit).getroot()
    cases = [c for c in root.iter("testcase")]
    failed = [c.get("name") for c in cases
              if c.find("failure") is not None or c.find("error") is not None]
    assert failed == [] and done.returncode == 0, report
    paths = request(chain.plugin.url, "GET", f"/api/{PLUGIN}/v0/swagger.json").json()["paths"]
    documented = {f"{m.upper()} {p}" for p, item in paths.items() for m in item
                  if m != "parameters"}
    assert len(cases) >= len(documented) - 1, report  # every operation was exercised
    log = chain.plugin.stderr_path.read_text(errors="replace")
    assert "Traceback" not in log and "unexpected error" not in log, log[-5000:]

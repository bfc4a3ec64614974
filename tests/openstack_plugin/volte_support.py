"""Running `demo volte` against a test chain, and what the simulated cloud
holds, for the VoLTE tests."""

from __future__ import annotations

import subprocess
import sys

from multicloud_broker.demo.volte import RUN_ID
from tests.openstack_plugin.conftest import OWNER, REGION, Chain
from tests.support.broker import broker_env

KINDS = ("servers", "ports", "networks", "subnets", "volumes", "stacks")


def run_demo(chain: Chain, *args: str, password: str | None = None,
             timeout: float = 30) -> subprocess.CompletedProcess:
    """`multicloud-broker demo volte ARGS` as a user runs it, with the
    Keystone admin's password in OS_PASSWORD (unless `password` says else)."""
    env = broker_env()
    env.pop("OS_USERNAME", None)
    env.pop("OS_PROJECT_NAME", None)
    env["OS_PASSWORD"] = chain.keystone.admin_password if password is None else password
    return subprocess.run(
        [sys.executable, "-m", "multicloud_broker", "demo", "volte", "--broker",
         chain.broker.url, "--cloud-owner", OWNER, "--cloud-region-id", REGION,
         "--timeout", str(timeout), *args],
        capture_output=True, text=True, timeout=300, env=env)


def run_id_of(done: subprocess.CompletedProcess) -> str:
    """The run id the demo's first line names."""
    first = done.stdout.split("\n", 1)[0].split()
    assert len(first) > 2 and RUN_ID.match(first[2].rstrip(":")), done.stdout
    return first[2].rstrip(":")


def cloud_state(chain: Chain) -> dict[str, dict[str, str]]:
    """Every server, port, network, subnet, volume and stack in the simulator
    (all projects), asked of it directly as the admin: kind -> {id: name}."""
    session = chain.keystone.admin_session()
    base, project = chain.sim.url, session.get_project_id()
    lists = {"servers": "/compute/v2.1/servers/detail?all_tenants=1",
             "ports": "/network/v2.0/ports", "networks": "/network/v2.0/networks",
             "subnets": "/network/v2.0/subnets",
             "volumes": f"/volume/v3/{project}/volumes/detail?all_tenants=1",
             "stacks": f"/heat/v1/{project}/stacks"}
    state = {}
    for kind, path in lists.items():
        answer = session.get(base + path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        state[kind] = {x["id"]: x.get("name") or x.get("stack_name") or ""
                       for x in answer.json()[kind]}
    return state


def new_since(before: dict[str, dict[str, str]],
              after: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {kind: {i: n for i, n in after[kind].items() if i not in before[kind]}
            for kind in KINDS}


def gone_since(before: dict[str, dict[str, str]],
               after: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    return {kind: set(before[kind]) - set(after[kind]) for kind in KINDS}


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr

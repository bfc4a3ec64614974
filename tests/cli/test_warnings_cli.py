"""Dependencies that warn, in the processes of ours that do not serve the API
(the region command, the OpenStack simulator): each warning is one log line
on stderr, and the command's own output is untouched."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.broker import broker_env, region_add, run_cli, write_config
from tests.support.upstreams import ClosedPort
from tests.support.warning_deps import hostile  # noqa: F401 (a fixture)

ONE_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ WARNING py\.warnings: "
                      r"UserWarning: hostile-dep: warned on import of (\S+) second line "
                      r"\(.*sitecustomize\.py:\d+\)$")


def test_the_region_command_logs_a_warning_as_one_line(tmp_path: Path, hostile) -> None:
    conf = write_config(tmp_path / "r.conf", {
        "inventory": {"sqlite_path": str(tmp_path / "inventory.sqlite")}})
    region_add(conf, "acme", "RegionOne", "openstack", "ocata")
    done = run_cli(["region", "list", "--config-file", str(conf)], env=hostile)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split() == ["acme", "RegionOne", "openstack", "ocata"]
    lines = done.stderr.splitlines()
    assert [ONE_LINE.match(line).group(1) for line in lines[:1]] == ["oslo_config.cfg"], lines
    assert all(" py.warnings: " in line for line in lines), lines


def test_the_openstack_simulator_logs_a_warning_as_one_line(tmp_path: Path, hostile) -> None:
    # No Keystone answers: the simulator stops after its imports, with its own
    # one-line reason, which must stay readable among the warnings.
    with ClosedPort() as keystone:
        done = subprocess.run(
            [sys.executable, "-m", "multicloud_broker.simulators.openstack",
             "--keystone-url", f"{keystone.url}/v3", "--admin-user", "admin",
             "--admin-password", "secret", "--admin-project", "admin",
             "--keystone-wait", "0"],
            capture_output=True, text=True, timeout=60, env=broker_env(hostile),
            stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    warned = [line for line in lines if "hostile-dep" in line]
    assert [ONE_LINE.match(line).group(1) for line in warned] == ["oslo_config.cfg"], lines
    assert "second line" not in [line.strip() for line in lines]
    assert lines[-1].startswith("openstack simulator: cannot authenticate with Keystone at "
                                f"{keystone.url}/v3: "), lines

"""Dependencies that warn, in the processes of ours that do not serve the API
(the region command, the simulated cloud): each warning is one log line on
stderr, and the command's own output is untouched."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.broker import region_add, run_cli, write_config
from tests.support.fakecloud import fakecloud_process
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


def test_the_simulated_cloud_logs_a_warning_as_one_line(tmp_path: Path, hostile) -> None:
    with fakecloud_process(tmp_path, env=hostile):
        pass
    lines = (tmp_path / "fakecloud.log").read_text().splitlines()
    warned = [line for line in lines if "hostile-dep" in line]
    assert sorted(ONE_LINE.match(line).group(1) for line in warned) == [
        "eventlet.wsgi", "oslo_config.cfg"], lines
    assert "second line" not in [line.strip() for line in lines]

"""The command line as a user meets it: one-line errors, region management."""

from __future__ import annotations

import socket

import pytest

from tests.support.broker import run_cli, write_config


@pytest.mark.parametrize("args, env, says", [
    (["--web-framework", "flask"], {}, "invalid choice: 'flask'"),
    (["--bind-port", "70000"], {}, "--bind-port=70000"),
    ([], {"WEB_FRAMEWORK": "flask"}, "WEB_FRAMEWORK"),
    ([], {"AAI_PORT": "many"}, "AAI_PORT"),
])
def test_bad_values_stop_start_up_in_one_line(args, env, says):
    done = run_cli(["serve", "--bind-host", "127.0.0.1", *args], env=env, timeout=30)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if says in line]) == 1


def test_unreadable_catalog_stops_start_up(tmp_path):
    conf = write_config(tmp_path / "b.conf", {"DEFAULT": {"plugin_catalog": tmp_path / "no.json"}})
    done = run_cli(["serve", "--config-file", str(conf), "--bind-host", "127.0.0.1"])
    assert done.returncode == 2
    assert "cannot read plugin catalog" in done.stderr
    assert "Traceback" not in done.stderr


def test_busy_port_stops_start_up():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(["serve", "--bind-host", "127.0.0.1", "--bind-port", str(port)])
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_region_add_list_show_remove(tmp_path):
    conf = str(write_config(tmp_path / "b.conf",
                            {"inventory": {"sqlite_path": tmp_path / "inv.sqlite"}}))
    region = ["--cloud-owner", "CloudOwner", "--cloud-region-id", "RegionOne"]
    added = run_cli(["region", "add", "--config-file", conf, *region,
                     "--cloud-type", "openstack", "--cloud-region-version", "pike"])
    assert added.returncode == 0, added.stderr
    again = run_cli(["region", "add", "--config-file", conf, *region,
                     "--cloud-type", "openstack", "--cloud-region-version", "pike"])
    assert again.returncode == 2
    assert "already exists" in again.stderr
    listed = run_cli(["region", "list", "--config-file", conf])
    assert "CloudOwner" in listed.stdout and "pike" in listed.stdout
    shown = run_cli(["region", "show", "--config-file", conf, *region])
    assert "RegionOne" in shown.stdout
    assert run_cli(["region", "remove", "--config-file", conf, *region]).returncode == 0
    gone = run_cli(["region", "show", "--config-file", conf, *region])
    assert gone.returncode == 2
    assert "not found" in gone.stderr


def test_region_commands_refuse_when_the_inventory_is_aai(tmp_path):
    done = run_cli(["region", "list"], env={"AAI_ADDR": "aai.example"})
    assert done.returncode == 2
    assert "A&AI" in done.stderr

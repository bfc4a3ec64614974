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


# -- the cloud's access ------------------------------------------------------------------

# A password no shell or parser would pass through intact on a command line.
HOSTILE = "p%s 'q' \"dq\" $HOME `x` \\ wörd 中文\nsecond line \U0001f511"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _inventory_conf(tmp_path) -> str:
    return str(write_config(tmp_path / "b.conf",
                            {"inventory": {"sqlite_path": tmp_path / "inv.sqlite"}}))


def _stored(tmp_path, region="RegionOne"):
    from multicloud_broker.inventory.sqlite import SqliteInventory
    return SqliteInventory(str(tmp_path / "inv.sqlite")).get("CloudOwner", region)


def test_region_add_with_access_then_show_without_the_password(tmp_path):
    conf = _inventory_conf(tmp_path)
    (tmp_path / "pw").write_text(HOSTILE + "\n", encoding="utf-8")
    (tmp_path / "ca.pem").write_text(PEM)
    added = run_cli(["region", "add", "--config-file", conf, "--cloud-owner", "CloudOwner",
                     "--cloud-region-id", "RegionOne", "--cloud-type", "openstack",
                     "--cloud-region-version", "pike",
                     "--auth-url", "https://keystone.example:5000/v3", "--username", "admin",
                     "--password-file", str(tmp_path / "pw"), "--user-domain", "Dom",
                     "--project", "proj", "--ca-file", str(tmp_path / "ca.pem"),
                     "--insecure", "--openstack-region", "RegionKs"])
    assert added.returncode == 0, added.stderr
    access = _stored(tmp_path).access
    assert (access.auth_url, access.username, access.password, access.user_domain,
            access.project, access.ca_cert, access.insecure, access.openstack_region) == (
        "https://keystone.example:5000/v3", "admin", HOSTILE, "Dom", "proj", PEM, True,
        "RegionKs")
    shown = run_cli(["region", "show", "--config-file", conf, "--cloud-owner", "CloudOwner",
                     "--cloud-region-id", "RegionOne"])
    assert shown.returncode == 0, shown.stderr
    for line in ("auth-url: https://keystone.example:5000/v3", "username: admin",
                 "password: set", "user-domain: Dom", "project: proj",
                 "ca-cert: set (1 certificate", "insecure: yes", "openstack-region: RegionKs"):
        assert line in shown.stdout, shown.stdout
    for done in (added, shown):
        assert "wörd" not in done.stdout + done.stderr and "second line" not in done.stdout


def test_region_password_from_the_environment_and_never_from_an_argument(tmp_path):
    conf = _inventory_conf(tmp_path)
    base = ["region", "add", "--config-file", conf, "--cloud-owner", "CloudOwner",
            "--cloud-region-id", "RegionOne", "--cloud-type", "openstack",
            "--cloud-region-version", "pike", "--auth-url", "http://keystone:5000",
            "--username", "admin"]
    refused = run_cli([*base, "--password", "on-the-command-line"])
    assert refused.returncode == 2 and "on-the-command-line" not in refused.stderr
    unset = run_cli([*base, "--password-env", "CLOUD_PW_UNSET"])
    assert unset.returncode == 2 and "CLOUD_PW_UNSET is not set" in unset.stderr
    done = run_cli([*base, "--password-env", "CLOUD_PW"], env={"CLOUD_PW": HOSTILE})
    assert done.returncode == 0, done.stderr
    assert _stored(tmp_path).access.password == HOSTILE
    shown = run_cli(["region", "show", "--config-file", conf, "--cloud-owner", "CloudOwner",
                     "--cloud-region-id", "RegionOne"])
    assert "password: set" in shown.stdout and "openstack-region: RegionOne" in shown.stdout


@pytest.mark.parametrize("extra, says", [
    (["--auth-url", "keystone:5000", "--username", "u"], "--auth-url must be an http"),
    (["--auth-url", "https://u:pw@keystone/v3", "--username", "u"],
     "--auth-url must not carry credentials"),
    (["--username", "u"], "--auth-url and --username are required"),
    (["--auth-url", "http://k/v3", "--username", "u", "--ca-file", "NOTPEM"],
     "no PEM certificate"),
    (["--auth-url", "http://k/v3", "--username", "u", "--ca-file", "/nonexistent/ca"],
     "--ca-file /nonexistent/ca"),
    (["--auth-url", "http://k/v3", "--username", "u", "--password-file", "EMPTY"],
     "password must not be empty"),
], ids=["not-http", "credentials-in-url", "no-url", "not-pem", "no-ca-file", "empty-password"])
def test_region_add_refuses_bad_access_values_in_one_line(tmp_path, extra, says):
    conf = _inventory_conf(tmp_path)
    (tmp_path / "notpem").write_text("/etc/ssl/certs/ca.pem\n")
    (tmp_path / "empty").write_text("\n")
    extra = [str(tmp_path / "notpem") if a == "NOTPEM" else
             str(tmp_path / "empty") if a == "EMPTY" else a for a in extra]
    done = run_cli(["region", "add", "--config-file", conf, "--cloud-owner", "CloudOwner",
                    "--cloud-region-id", "RegionOne", "--cloud-type", "openstack",
                    "--cloud-region-version", "pike", *extra])
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and ":pw@" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_region_update_changes_what_is_given_and_keeps_the_password(tmp_path):
    conf = _inventory_conf(tmp_path)
    region = ["--config-file", conf, "--cloud-owner", "CloudOwner",
              "--cloud-region-id", "RegionOne"]
    (tmp_path / "pw").write_text(HOSTILE)
    assert run_cli(["region", "add", *region, "--cloud-type", "openstack",
                    "--cloud-region-version", "pike", "--auth-url", "http://k/v3",
                    "--username", "admin", "--password-file", str(tmp_path / "pw")]
                   ).returncode == 0
    updated = run_cli(["region", "update", *region, "--cloud-region-version", "queens",
                       "--project", "p2", "--insecure"])
    assert updated.returncode == 0, updated.stderr
    stored = _stored(tmp_path)
    assert (stored.cloud_region_version, stored.access.project, stored.access.insecure,
            stored.access.password) == ("queens", "p2", True, HOSTILE)
    assert stored.extra["resource-version"]  # API clients see it changed
    moved = run_cli(["region", "update", *region, "--auth-url", "http://elsewhere/v3"])
    assert moved.returncode == 2 and "give the password again" in moved.stderr
    assert _stored(tmp_path).access.auth_url == "http://k/v3"
    assert run_cli(["region", "update", *region, "--no-access"]).returncode == 0
    assert _stored(tmp_path).access is None
    missing = run_cli(["region", "update", "--config-file", conf, "--cloud-owner", "X",
                       "--cloud-region-id", "Y", "--project", "p"])
    assert missing.returncode == 2 and "not found" in missing.stderr


@pytest.mark.parametrize("written, read", [
    ("pw\n", "pw"), ("pw\r\n", "pw"), ("pw", "pw"), ("a\nb\n\n", "a\nb\n"), (" pw \n", " pw ")])
def test_a_password_file_loses_one_trailing_newline_only(tmp_path, monkeypatch, written, read):
    import io

    from multicloud_broker.cli import _read_secret
    path = tmp_path / "pw"
    path.write_bytes(written.encode())
    assert _read_secret(str(path)) == read
    monkeypatch.setattr("sys.stdin", io.StringIO(written))
    assert _read_secret("-") == read

"""Everything checkable is checked at start: one line on stderr, exit status 2,
before any worker runs (the same checks guard a SIGHUP: test_reload.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.broker import run_cli, write_config
from tests.support.upstreams import free_port


def _config(tmp: Path, **sections: dict) -> dict:
    config = {"DEFAULT": {}, "inventory": {"sqlite_path": str(tmp / "inventory.sqlite")}}
    for name, options in sections.items():
        config.setdefault(name, {}).update(options)
    return config


def _a_file(tmp: Path) -> Path:
    path = tmp / "a-file"
    path.write_text("a regular file\n")
    return path


def _fifo(tmp: Path) -> Path:
    path = tmp / "nobody-reads"
    os.mkfifo(path)
    return path


def _garbage_pem(tmp: Path) -> tuple[str, str]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    key.write_text("garbage\n")
    return str(cert), str(key)


# name -> (config from tmp, words the one line must contain)
CASES = {
    "catalog missing": (lambda t: _config(t, DEFAULT={"plugin_catalog": t / "none.json"}),
                        ["cannot read plugin catalog", "none.json"]),
    "catalog not JSON": (lambda t: _config(t, DEFAULT={"plugin_catalog": _a_file(t)}),
                         ["not JSON", "a-file"]),
    "certificate missing": (lambda t: _config(t, ssl={"enabled": True,
                                                      "cert_file": t / "no.pem",
                                                      "key_file": t / "no.key"}),
                            ["[ssl]", "no.pem"]),
    "certificate unusable": (lambda t: _config(t, ssl=dict(zip(
        ("enabled", "cert_file", "key_file"), (True, *_garbage_pem(t))))),
        ["[ssl] unusable certificate or key"]),
    "access_log a directory": (lambda t: _config(t, DEFAULT={"access_log": t}),
                               ["access_log", "Is a directory"]),
    "access_log below a file": (lambda t: _config(t, DEFAULT={
        "access_log": _a_file(t) / "access.log"}), ["access_log", "Not a directory"]),
    "access_log a FIFO nobody reads": (lambda t: _config(t, DEFAULT={"access_log": _fifo(t)}),
                                       ["access_log", "nobody-reads"]),
    "sqlite_path below a file": (lambda t: _config(t, inventory={
        "sqlite_path": _a_file(t) / "inventory.sqlite"}), ["inventory", "a-file"]),
    "endpoint without host": (lambda t: _config(t, plugins={
        "endpoints": {"multicloud-ocata": "http://"}}),
        ["endpoints", "multicloud-ocata", "no host"]),
    "endpoint port out of range": (lambda t: _config(t, plugins={
        "endpoints": {"multicloud-ocata": "http://127.0.0.1:99999"}}),
        ["endpoints", "multicloud-ocata", "99999"]),
    "endpoint port not a number": (lambda t: _config(t, plugins={
        "endpoints": {"multicloud-ocata": "http://127.0.0.1:nine"}}),
        ["endpoints", "multicloud-ocata", "nine"]),
    "endpoint unknown scheme": (lambda t: _config(t, plugins={
        "endpoints": {"multicloud-ocata": "ftp://127.0.0.1:21"}}),
        ["endpoints", "multicloud-ocata", "ftp://"]),
    "A&AI CA file unreadable": (lambda t: _config(t, inventory={"backend": "aai"},
                                                  aai={"ca_file": t / "no-ca.pem"}),
                                ["[aai] ca_file", "no-ca.pem"]),
}


def _serve(tmp: Path, config: dict, workers: int = 2,
           framework: str = "django") -> tuple[int, list[str], str]:
    conf = write_config(tmp / "broker.conf", config)
    done = run_cli(["serve", "--config-file", str(conf), "--web-framework", framework,
                    "--bind-host", "127.0.0.1", "--bind-port", str(free_port()),
                    "--workers", str(workers)], timeout=60)
    return done.returncode, done.stderr.splitlines(), done.stdout


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_value_stops_start_up_with_one_line(tmp_path, case):
    make, words = CASES[case]
    status, lines, stdout = _serve(tmp_path, make(tmp_path))
    assert status == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("multicloud-broker: error: ")
    for word in words:
        assert word in lines[0]
    assert stdout == ""


@pytest.mark.parametrize("framework", ["django", "pecan"])
@pytest.mark.parametrize("workers", [1, 2])
def test_an_unwritable_access_log_is_a_start_up_failure_not_a_respawn_loop(
        tmp_path, workers, framework):
    status, lines, _ = _serve(tmp_path, _config(tmp_path, DEFAULT={"access_log": tmp_path}),
                              workers=workers, framework=framework)
    assert (status, len(lines)) == (2, 1), lines
    assert "access_log" in lines[0]


def test_a_directory_as_config_file_is_one_line(tmp_path):
    done = run_cli(["serve", "--config-file", str(tmp_path), "--bind-port", str(free_port())])
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"multicloud-broker: error: config file {tmp_path} is a directory"]

"""Dependencies that warn, in the serving processes: no raw warning text
reaches stderr, whatever they do (the stand-in: tests/support/warning_deps.py),
at import in the bootstrap, in each worker after fork, during a SIGHUP reload."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from tests.server.helpers import base_config, wait_until, worker_pids
from tests.support.broker import run_cli, write_config
from tests.support.client import request
from tests.support.upstreams import free_port
from tests.support.warning_deps import hostile  # noqa: F401 (a fixture)


def _json_lines(text: str) -> list[dict]:
    """Every line of `text` parsed as JSON (a line that is not fails the test)."""
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a stderr line is not JSON: {line!r}\n--- stderr ---\n{text}")
    return entries


def _warnings(entries: list[dict], words: str) -> list[dict]:
    return [e for e in entries if e["logger"] == "py.warnings" and words in e["message"]]


def test_json_stderr_stays_json_when_a_dependency_warns_at_import_fork_and_reload(
        make_broker, tmp_path, plugin, hostile):
    broker = make_broker(workers=2, env=hostile,
                         config=base_config(tmp_path, plugin, log_format="json"))
    workers = wait_until(lambda: len(worker_pids(broker.pid)) == 2 and worker_pids(broker.pid))
    entries = wait_until(lambda: (lambda found: len(_warnings(found, "after fork")) >= 2
                                  and found)(_json_lines(broker.stderr_path.read_text())))
    imported = _warnings(entries, "warned on import of oslo_config")
    assert [e["pid"] for e in imported] == [broker.pid]
    assert imported[0]["level"] == "WARNING"
    assert ("UserWarning: hostile-dep: warned on import of oslo_config.cfg second line"
            in imported[0]["message"])
    assert {e["pid"] for e in _warnings(entries, "after fork")} == workers
    loaded = len(_warnings(entries, "loading a configuration"))

    os.kill(broker.pid, signal.SIGHUP)
    entries = wait_until(lambda: (lambda found: any(
        "every worker replaced" in e["message"] for e in found) and found)(
        _json_lines(broker.stderr_path.read_text())), timeout=30)
    reloaded = _warnings(entries, "loading a configuration")
    assert len(reloaded) > loaded and reloaded[-1]["pid"] == broker.pid
    assert "FutureWarning" in reloaded[-1]["message"]
    assert broker.stop() == 0
    _json_lines(broker.stderr_path.read_text())  # the drain's lines too


def test_text_mode_gives_a_warning_one_log_line(make_broker, hostile):
    broker = make_broker(workers=1, env=hostile)
    wait_until(lambda: "after fork" in broker.stderr_path.read_text() or
               "serving" in broker.stderr_path.read_text())
    assert broker.stop() == 0
    lines = broker.stderr_path.read_text().splitlines()
    imported = [line for line in lines if "warned on import of oslo_config" in line]
    assert len(imported) == 1, lines
    assert re.search(r" WARNING py\.warnings \[.*\]: UserWarning: hostile-dep: warned on "
                     r"import of oslo_config\.cfg second line \(.*:\d+\)$", imported[0])
    assert not any(line.strip() == "second line" for line in lines)
    # every line is one of the broker's own records: time, pid, level, logger
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ [A-Z]+ \S+ ", line)
               for line in lines), lines


@pytest.mark.parametrize("warnings_as", ["default", "error"])
def test_a_bad_configuration_is_one_line_whatever_dependencies_warn(tmp_path, hostile,
                                                                    warnings_as):
    """The stand-in warns before the configuration is refused; with
    PYTHONWARNINGS=error every unknown warning would be an exception, so only
    the stand-in's (which the test lets through as warnings) may occur."""
    env = dict(hostile)
    if warnings_as == "error":
        env["PYTHONWARNINGS"] = "error,default:hostile-dep"
    conf = write_config(tmp_path / "broker.conf", {
        "DEFAULT": {"plugin_catalog": tmp_path / "missing.json"},
        "inventory": {"sqlite_path": str(tmp_path / "inventory.sqlite")}})
    done = run_cli(["serve", "--config-file", str(conf), "--bind-host", "127.0.0.1",
                    "--bind-port", str(free_port()), "--workers", "2"], env=env)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    line = done.stderr.strip()
    assert line.startswith("multicloud-broker: error: cannot read plugin catalog"), line
    assert "missing.json" in line
    assert done.stdout == ""


def test_a_broker_serves_and_reloads_with_every_warning_an_error(make_broker, tmp_path,
                                                                  plugin):
    """PYTHONWARNINGS=error: a dependency that starts warning anywhere on the
    way (start-up, fork, a request, a reload, the drain) breaks this test,
    unless the warning is a known one filtered at its source."""
    broker = make_broker(workers=2, env={"PYTHONWARNINGS": "error"},
                         config=base_config(tmp_path, plugin))
    for path in ("/api/multicloud/v0/vim_types", "/api/multicloud/v0/proc_RegionOne/fast"):
        reply = request(broker.url, "GET", path)
        assert reply.status == 200, (reply, broker.output())
    os.kill(broker.pid, signal.SIGHUP)
    wait_until(lambda: "every worker replaced" in broker.stderr_path.read_text(), timeout=30)
    assert request(broker.url, "GET", "/api/multicloud/v0/vim_types").status == 200
    assert broker.stop() == 0
    stderr = broker.stderr_path.read_text()
    assert "Warning" not in stderr and "Traceback" not in stderr, stderr

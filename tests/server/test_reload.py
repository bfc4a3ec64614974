"""SIGHUP: the new configuration is checked first, then workers are replaced
one at a time; a bad configuration changes nothing. Real brokers, both
frameworks (fixtures in conftest.py)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
from importlib.metadata import version

from tests.server.helpers import (LoadRun, base_config, stderr_lines, wait_until,
                                  worker_pids)
from tests.support.broker import write_config
from tests.support.client import request

VIM_TYPES = "/api/multicloud/v0/vim_types"
SLOW = "/api/multicloud/v0/proc_RegionOne/slow"
REFUSED = "SIGHUP refused"


def _workers(broker, count: int = 2) -> set[int]:
    return wait_until(lambda: (lambda p: len(p) == count and p)(worker_pids(broker.pid)))


def _replaced(broker, old: set[int], count: int = 2) -> set[int]:
    """Wait until `count` workers serve and none of `old` is among them."""
    return wait_until(lambda: (lambda p: len(p) == count and not p & old and p)(
        worker_pids(broker.pid)), timeout=30)


def _serving_never_below(lines: list[str], workers: int) -> int:
    """From the workers' own log lines, in order: the fewest workers serving
    (started and not yet draining) at the moment any worker began to drain."""
    serving: set[str] = set()
    fewest = workers
    for line in lines:
        started = re.search(r"worker (\d+) serving", line)
        draining = re.search(r"worker (\d+) draining", line)
        if started:
            serving.add(started.group(1))
        elif draining:
            serving.discard(draining.group(1))
            fewest = min(fewest, len(serving))
    return fewest


@pytest.mark.timeout(120)
def test_five_sighups_under_load_fail_no_request(make_broker, tmp_path, plugin):
    broker = make_broker(workers=2, config=base_config(tmp_path, plugin,
                                                       graceful_shutdown_timeout=10))
    first = _workers(broker)
    with LoadRun(broker.port, VIM_TYPES, connections=100) as load:
        wait_until(lambda: load.answered > 200)
        for done in range(1, 6):
            old = _workers(broker)
            os.kill(broker.pid, signal.SIGHUP)
            _replaced(broker, old)  # each reload runs to its end under load
            wait_until(lambda: len(stderr_lines(broker, "every worker replaced")) == done)
        after = load.answered
        wait_until(lambda: load.answered > after + 200)  # the last workers serve
    assert load.errors == []
    assert set(load.statuses) == {200}
    assert len(stderr_lines(broker, "every worker replaced")) == 5
    assert worker_pids(broker.pid).isdisjoint(first)
    # one at a time: a worker only drains once its replacement serves
    # forked first: capacity never went below N (the issue asks for N-1)
    assert _serving_never_below(stderr_lines(broker, "worker "), 2) == 2
    assert broker.stop(timeout=30) == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2])
def test_sighups_in_quick_succession_under_load(make_broker, workers):
    """A SIGHUP during a reload starts over with the newest config (one
    worker: it is handled once the swap in progress ends); the worker count
    is back to N at the end and no request fails."""
    broker = make_broker(workers=workers)
    first = _workers(broker, workers) if workers > 1 else set()
    with LoadRun(broker.port, VIM_TYPES, connections=50) as load:
        wait_until(lambda: load.answered > 100)
        for _ in range(5):
            os.kill(broker.pid, signal.SIGHUP)
            time.sleep(0.3)  # pacing only: most land while a reload runs
        if workers > 1:
            _replaced(broker, first)
            wait_until(lambda: stderr_lines(broker, "every worker replaced"))
        else:
            # SIGHUPs that land during a swap are taken together, once, after it
            wait_until(lambda: stderr_lines(broker, "server replaced"))
        after = load.answered
        wait_until(lambda: load.answered > after + 100)
    assert load.errors == []
    assert set(load.statuses) == {200}
    assert len(worker_pids(broker.pid)) == (workers if workers > 1 else 0)
    assert broker.stop(timeout=30) == 0


def _break_catalog(config: dict, tmp_path) -> None:
    config["DEFAULT"]["plugin_catalog"] = str(tmp_path / "no-such-catalog.json")


def _break_certificate(config: dict, tmp_path) -> None:
    config["ssl"] = {"enabled": True, "cert_file": str(tmp_path / "gone.pem"),
                     "key_file": str(tmp_path / "gone.key")}


def _break_access_log(config: dict, tmp_path) -> None:
    (tmp_path / "a-directory").mkdir(exist_ok=True)
    config["DEFAULT"]["access_log"] = str(tmp_path / "a-directory")


def _break_endpoint(config: dict, tmp_path) -> None:
    config["plugins"]["endpoints"] = {"multicloud-ocata": "http://127.0.0.1:99999"}


def _break_inventory(config: dict, tmp_path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    config["inventory"]["sqlite_path"] = str(tmp_path / "a-file" / "inventory.sqlite")


BREAKAGES = {
    "catalog": (_break_catalog, "no-such-catalog.json"),
    "certificate": (_break_certificate, "gone.pem"),
    "access_log": (_break_access_log, "a-directory"),
    "endpoint": (_break_endpoint, "99999"),
    "inventory": (_break_inventory, "a-file"),
}


@pytest.mark.timeout(90)
def test_a_broken_config_is_refused_and_workers_keep_serving(make_broker, tmp_path, plugin):
    broker = make_broker(workers=2)
    workers = _workers(broker)
    statuses: list[int] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            statuses.append(request(broker.url, "GET", VIM_TYPES, timeout=10).status)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        for refused, (breakage, named) in enumerate(BREAKAGES.values(), start=1):
            config = base_config(tmp_path, plugin)
            breakage(config, tmp_path)
            write_config(broker.config_file, config)
            errors_before = len(stderr_lines(broker, " ERROR "))
            os.kill(broker.pid, signal.SIGHUP)
            lines = wait_until(lambda: (lambda l: len(l) == refused and l)(
                stderr_lines(broker, REFUSED)))
            assert named in lines[-1]
            assert len(stderr_lines(broker, " ERROR ")) == errors_before + 1  # one line
            assert worker_pids(broker.pid) == workers  # same processes, still serving
            count = len(statuses)
            wait_until(lambda: len(statuses) > count + 5)
    finally:
        stop.set()
        thread.join(timeout=15)
    assert set(statuses) == {200}
    assert "exited" not in broker.stderr_path.read_text()  # no worker was touched
    # a good config afterwards is applied as usual
    write_config(broker.config_file, base_config(tmp_path, plugin))
    os.kill(broker.pid, signal.SIGHUP)
    _replaced(broker, workers)


def test_a_broken_config_is_refused_with_one_worker(make_broker, tmp_path, plugin):
    broker = make_broker(workers=1)
    config = base_config(tmp_path, plugin)
    _break_catalog(config, tmp_path)
    write_config(broker.config_file, config)
    os.kill(broker.pid, signal.SIGHUP)
    line, = wait_until(lambda: stderr_lines(broker, REFUSED))
    assert "no-such-catalog.json" in line
    assert request(broker.url, "GET", VIM_TYPES).status == 200
    assert len(stderr_lines(broker, "serving")) == 1  # the server was not replaced


@pytest.mark.parametrize("workers", [1, 2])
def test_reload_applies_log_level_and_access_log_file(make_broker, tmp_path, plugin, workers):
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    broker = make_broker(workers=workers,
                         config=base_config(tmp_path, plugin, access_log=first_log))
    old = _workers(broker, workers) if workers > 1 else set()
    assert request(broker.url, "GET", VIM_TYPES).status == 200
    write_config(broker.config_file, base_config(tmp_path, plugin, access_log=second_log,
                                                 log_level="WARNING"))
    os.kill(broker.pid, signal.SIGHUP)
    if workers > 1:
        new = _replaced(broker, old, workers)
    wait_until(lambda: request(broker.url, "GET", VIM_TYPES).status == 200
               and second_log.exists() and VIM_TYPES in second_log.read_text())
    logged_first = first_log.read_text()
    for _ in range(5):
        assert request(broker.url, "GET", VIM_TYPES).status == 200
    wait_until(lambda: second_log.read_text().count(VIM_TYPES) >= 5)
    assert first_log.read_text() == logged_first  # nothing more goes to the old file
    # WARNING from now on: the new server's "serving" INFO line is not logged
    if workers > 1:
        assert not any(f"worker {pid} serving" in line
                       for pid in new for line in stderr_lines(broker, "serving"))
    else:
        assert len(stderr_lines(broker, "serving")) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_no_descriptor_leak_across_reloads(make_broker, tmp_path, plugin, workers):
    broker = make_broker(workers=workers,
                         config=base_config(tmp_path, plugin, access_log=tmp_path / "a.log"))
    bootstrap_fds = len(os.listdir(f"/proc/{broker.pid}/fd"))
    for round_ in range(1, 6 if workers == 1 else 3):
        old = worker_pids(broker.pid)
        os.kill(broker.pid, signal.SIGHUP)
        if workers == 1:
            wait_until(lambda: len(stderr_lines(broker, "server replaced")) == round_)
        else:
            _replaced(broker, old)
        assert request(broker.url, "GET", VIM_TYPES).status == 200
    access_log_fds = [path for path in _open_files(broker.pid) if path.endswith("a.log")]
    assert len(access_log_fds) == (1 if workers == 1 else 0)
    # the bootstrap holds what it held before (a client socket may come and go)
    assert len(os.listdir(f"/proc/{broker.pid}/fd")) <= bootstrap_fds + 1


def _open_files(pid: int) -> list[str]:
    """What `pid`'s descriptors point at; one closed meanwhile is skipped."""
    paths = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass  # a client connection that ended between the two calls
    return paths


@pytest.mark.timeout(60)
def test_an_old_worker_drains_for_at_most_graceful_shutdown_timeout(make_broker, tmp_path,
                                                                    plugin):
    broker = make_broker(workers=2, config=base_config(tmp_path, plugin,
                                                       graceful_shutdown_timeout=1))
    old = _workers(broker)
    hanging = "/api/multicloud-ocata/v0/proc_RegionOne/hanging"
    plugin.respond(hanging, json_body={"late": True}, delay=25.0)
    plugin.clear_requests()
    outcome: list[object] = []

    def hanging_call() -> None:
        try:
            outcome.append(request(broker.url, "GET",
                                   "/api/multicloud/v0/proc_RegionOne/hanging", timeout=40))
        except OSError as exc:
            outcome.append(exc)

    callers = [threading.Thread(target=hanging_call) for _ in range(4)]
    for caller in callers:
        caller.start()
    wait_until(lambda: len(plugin.requests_to(hanging)) == 4)
    os.kill(broker.pid, signal.SIGHUP)
    _replaced(broker, old)  # the old workers are gone while the plugin still holds the calls
    wait_until(lambda: stderr_lines(broker, "every worker replaced"))
    for caller in callers:
        caller.join(timeout=40)
    # cut at the drain deadline, long before the plugin's answer could arrive
    assert len(outcome) == 4
    assert not any(getattr(o, "status", None) == 200 for o in outcome)
    assert request(broker.url, "GET", VIM_TYPES).status == 200


def test_oslo_service_internals_we_rely_on():
    """launchers.py subclasses oslo.service's eventlet launchers and uses
    members that are not public API: pin them and the version range (read
    from the source, so that no launcher installs signal handlers in pytest)."""
    import inspect

    from oslo_service.backend._eventlet import service
    major, minor = (int(x) for x in version("oslo.service").split(".")[:2])
    assert (4, 8) <= (major, minor) < (5, 0)
    launcher = service.ProcessLauncher
    for name in ("_start_child", "_wait_child", "launch_service", "handle_signal", "stop"):
        assert callable(getattr(launcher, name)), name
    init = inspect.getsource(launcher.__init__)
    for attr in ("self.children", "self.sigcaught", "self.running", "self.wait_interval",
                 "self.signal_handler"):
        assert attr in init, attr
    assert "return pid" in inspect.getsource(launcher._start_child)
    assert "return wrap" in inspect.getsource(launcher._wait_child)
    assert "self.running = False" in inspect.getsource(launcher._handle_term)
    assert "self.sigcaught = signo" in inspect.getsource(launcher._handle_hup)
    wrap = service.ServiceWrapper(object(), 3)
    assert wrap.children == set() and wrap.workers == 3
    one = service.ServiceLauncher
    assert "self.restart()" in inspect.getsource(one.wait)
    assert "signal_handler.clear()" in inspect.getsource(one._reload_service)


def test_one_worker_is_ready_again_after_a_reload(make_broker):
    """With one worker the old server drains in the same process as the new
    one: its drain must not leave /readyz answering 'draining'."""
    broker = make_broker(workers=1)
    assert request(broker.url, "GET", "/readyz").status == 200
    os.kill(broker.pid, signal.SIGHUP)
    wait_until(lambda: stderr_lines(broker, "server replaced"))
    reply = request(broker.url, "GET", "/readyz")
    assert reply.status == 200, reply

"""Honest exit: 0 only after SIGTERM; non-zero when the server stops for any
other reason, with one worker (served in the bootstrap) and with several."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import subprocess
import termios
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.server.helpers import (DefaultWorkersBroker, base_config, stderr_lines,
                                  wait_until, worker_pids)
from tests.support.broker import broker_env
from tests.support.client import request

VIM_TYPES = "/api/multicloud/v0/vim_types"
LONG = "/api/multicloud/v0/proc_RegionOne/long"
LONG_PATH = "/api/multicloud-ocata/v0/proc_RegionOne/long"


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_exits_zero(make_broker, workers):
    broker = make_broker(workers=workers)
    assert request(broker.url, "GET", VIM_TYPES).status == 200
    assert broker.stop(timeout=30) == 0


@pytest.mark.timeout(60)
def test_workers_that_keep_dying_stop_the_server_non_zero(make_broker, tmp_path, plugin):
    """Start-up checks passed, then the access log became unusable: respawned
    workers die at start. After a few, the bootstrap stops and says why."""
    access_log = tmp_path / "access.log"
    broker = make_broker(workers=2, config=base_config(tmp_path, plugin, access_log=access_log))
    workers = wait_until(lambda: (lambda p: len(p) == 2 and p)(worker_pids(broker.pid)))
    access_log.unlink()
    access_log.mkdir()  # what a worker opens at start is now a directory
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    assert broker._proc.wait(timeout=40) == 1
    line, = stderr_lines(broker, "workers keep exiting")
    assert "access_log" in line and "Is a directory" in line and "stopping" in line
    # respawns are bounded: 2 killed + 3 that died at start
    assert len(stderr_lines(broker, "exited with status")) <= 5


def _serve_on_a_terminal(broker) -> tuple[subprocess.Popen, int]:
    """Run the broker's command as a session leader whose controlling terminal
    (a pty) is its stdin and stdout: it is in that terminal's foreground."""
    master, slave = pty.openpty()
    stderr = open(broker.stderr_path, "wb")
    try:
        proc = subprocess.Popen(
            broker.command(), stdin=slave, stdout=slave, stderr=stderr,
            env=broker_env(), cwd=str(broker.workdir), start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    finally:
        os.close(slave)
        stderr.close()
    return proc, master


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_from_the_terminal_is_a_hang_up_and_exits_non_zero(
        tmp_path, plugin, framework, workers):
    """oslo.service's rule, kept: in a terminal's foreground SIGHUP means the
    terminal hung up. The server stops; that is not a SIGTERM, so not 0."""
    broker = DefaultWorkersBroker(tmp_path, base_config(
        tmp_path, plugin, access_log=tmp_path / "access.log"), web_framework=framework,
        workers=workers)
    proc, master = _serve_on_a_terminal(broker)
    try:
        wait_until(lambda: _answers(broker.url), timeout=30)
        os.kill(proc.pid, signal.SIGHUP)
        assert proc.wait(timeout=40) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert not stderr_lines(broker, "replac")  # not taken as a reload


def _answers(url: str) -> bool:
    try:
        return request(url, "GET", VIM_TYPES, timeout=2).status == 200
    except OSError:
        return False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_during_a_reload_drains_and_exits_zero(make_broker, plugin, workers):
    broker = make_broker(workers=workers)
    children = worker_pids(broker.pid)
    plugin.respond(LONG_PATH, json_body={"long": True}, delay=3.0)
    plugin.clear_requests()
    with ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(request, broker.url, "GET", LONG, timeout=30) for _ in range(4)]
        wait_until(lambda: len(plugin.requests_to(LONG_PATH)) == 4)  # 3 s each, in flight
        os.kill(broker.pid, signal.SIGHUP)
        # the reload is under way: a replaced server drains requests in flight
        wait_until(lambda: [line for line in stderr_lines(broker, "draining:")
                            if " draining: 0 " not in line])
        os.kill(broker.pid, signal.SIGTERM)
        replies = [call.result() for call in calls]
    assert [r.status for r in replies] == [200] * 4
    assert broker._proc.wait(timeout=40) == 0
    assert not any(_alive(pid) for pid in children | worker_pids(broker.pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

"""What both backends' launchers share, where a reload or a failure must not stop service.

The process managers themselves are the backends': oslo.service's eventlet
launchers (eventlet_launchers.py) and gevent_launchers.py. Shared here:

- SIGHUP: the new configuration is checked first (Reloader); a bad one is
  refused with one error line and nothing else happens. A good one replaces
  the workers one at a time (Rolling): a new worker is forked and must
  report that it serves before one old worker gets SIGTERM, and an old
  worker that is still draining after graceful_shutdown_timeout is killed.
  oslo.service would SIGTERM every worker at once.
- A worker that keeps dying is not respawned forever: CRASH_LIMIT unexpected
  exits within CRASH_WINDOW seconds stop the server, with one line and a
  non-zero exit status.
- wait() tells how the server ended: 0 only after SIGTERM.
"""

from __future__ import annotations

import collections
import errno
import gc
import io
import logging
import os
import posix
import signal
import struct
import sys
import time
from collections.abc import Callable

from oslo_config import cfg
from oslo_service import systemd
from oslo_service.backend.base import ServiceBase

from multicloud_broker import metrics
from multicloud_broker.config import ConfigError
from multicloud_broker.core import health
from multicloud_broker.server.preflight import PreflightError, check
from multicloud_broker.server.sockets import Listeners

LOG = logging.getLogger(__name__)

# A worker exiting this often without being asked to is not worth respawning:
# 5 exits within 10 s is 5 respawns in a row at oslo.service's fork pace
# (about one a second once the first `workers` forks are spent).
CRASH_LIMIT = 5
CRASH_WINDOW = 10.0

KILL_MARGIN = 5.0  # s beyond graceful_shutdown_timeout before a retired worker is killed

_PID = struct.Struct("=i")  # a ready report: the worker's pid, one atomic write

EXIT_TERMINATED = 0  # SIGTERM: drained and stopped as asked
EXIT_FAILED = 1      # anything else: crash loop, fatal error, terminal hang-up


def _in_terminal_foreground() -> bool:
    """oslo.service takes SIGHUP in a terminal's foreground as the terminal
    hanging up (the process exits); elsewhere it is a reload request."""
    try:
        return os.getpgrp() == os.tcgetpgrp(sys.stdout.fileno())
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False  # no usable stdout
    except OSError as exc:
        # ENOTTY: stdout is no terminal. Anything else (EIO): it was one and is gone.
        return exc.errno != errno.ENOTTY


def tune_gc() -> None:
    """Called by a worker's server before it serves. Held connections are
    long-lived objects, and a full collection walks them all: with thousands
    of connections a worker stalled for a second at a time (measured).
    Requests leave no reference cycles, so full collections can be ten times
    rarer, and the objects built at start (the app, the modules) are left
    out of them for good."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 100)


def report_serving(conf: cfg.ConfigOpts, limits, running: Callable[[], int],
                   connections: int) -> None:
    """A worker's server has started: its gauges on /metrics (request slots
    from `limits`, connections held from `running()`) and one log line."""
    metrics.watch_worker(conf.wsgi_pool_size, lambda: limits.slots.counter, running)
    LOG.info("worker %d serving %s on %s:%d with %s (%d connections, %d requests at once)",
             os.getpid(), conf.web_framework, conf.bind_host, conf.bind_port,
             conf.server_backend, connections, conf.wsgi_pool_size)


def stop_being_ready(conf: cfg.ConfigOpts, graceful: bool) -> float | None:
    """A worker's server begins to stop: /readyz answers 503 from now on,
    and with shutdown_delay (at most half of graceful_shutdown_timeout) it
    goes on serving that long, so that a load balancer has time to see
    /readyz fail and stop sending here first. Returns the time left for the
    drain (None: unbounded)."""
    health.set_draining(True)
    grace = getattr(conf, "graceful_shutdown_timeout", 0) or None
    delay = min(conf.shutdown_delay, grace / 2 if grace else float("inf"))
    if graceful and delay > 0:
        LOG.info("worker %d not ready; serving %g s more before draining", os.getpid(), delay)
        time.sleep(delay)  # green under either backend
        grace = grace and grace - delay
    return grace


class Reloader:
    """Checks a new configuration before the live one is reloaded in place."""

    def __init__(self, conf: cfg.ConfigOpts, load: Callable[[], cfg.ConfigOpts],
                 checks: Callable[[cfg.ConfigOpts], None] = check):
        self.conf = conf
        self.load = load  # a fresh ConfigOpts from the same files, environment and flags
        self.checks = checks  # the service's preflight (the broker's, the plugin's)

    def accept(self) -> bool:
        """Reload the live configuration if the new one passes every check."""
        try:
            candidate = self.load()
            self.checks(candidate)
        except (ConfigError, PreflightError) as exc:
            LOG.error("SIGHUP refused, workers keep the running configuration: %s", exc)
            return False
        except Exception as exc:  # a reload must never bring the server down
            LOG.error("SIGHUP refused, workers keep the running configuration: "
                      "%s: %s", type(exc).__name__, " ".join(str(exc).split()))
            return False
        before = {name: self.conf[name] for name in
                  ("server_backend", "bind_host", "bind_port", "backlog", "workers")}
        if not self.conf.reload_config_files():
            LOG.error("SIGHUP refused: the config files changed while being reloaded")
            return False
        for name, value in before.items():
            if self.conf[name] != value:
                LOG.warning("SIGHUP: %s changed to %s: applied at the next restart only",
                            name, self.conf[name])
        logging.getLogger().setLevel(self.conf.log_level)
        return True

    def diagnose(self) -> str:
        """What the checks find wrong with the live configuration now, if anything
        (a file may have changed since start): the likely reason workers die."""
        try:
            self.checks(self.conf)
        except Exception as exc:
            return " ".join(str(exc).split())
        return ""


class ReplaceableService(ServiceBase):
    """Runs one service made by `make()`; can swap it for a fresh one in place.

    In a forked worker it also reports to the bootstrap, through `ready_fd`,
    that it serves.
    """

    def __init__(self, make: Callable[[], ServiceBase]):
        self.make = make
        self.ready_fd: int | None = None
        self.current: ServiceBase | None = None

    def start(self) -> None:
        self.current = self.make()
        self.current.start()
        if self.ready_fd is not None:
            os.write(self.ready_fd, _PID.pack(os.getpid()))

    def stop(self, graceful: bool = True) -> None:
        if self.current is not None:
            _stop_and_close(self.current)

    def wait(self) -> None:
        if self.current is not None:
            self.current.wait()

    def reset(self) -> None:
        """Nothing to reset: start() makes a new service from the reloaded config."""

    def replace(self) -> None:
        """Start a new service beside the current one, then stop the old one
        (its stop() drains for at most graceful_shutdown_timeout): in one
        process, there is no moment without a server accepting."""
        new = self.make()
        new.start()  # raises if it cannot: the current one keeps serving
        old, self.current = self.current, new
        if old is not None:
            _stop_and_close(old)
            # The old server's stop() flagged this process as draining for
            # /readyz; the new one serves on: ready again.
            health.set_draining(False)


def reload_in_place(reloader: Reloader, svc: ReplaceableService) -> None:
    """SIGHUP with one worker: check the new configuration, then swap in a
    server built from it; a server that cannot start leaves the running one."""
    if not reloader.accept():
        return
    try:
        svc.replace()
        LOG.info("SIGHUP: server replaced in process %d", os.getpid())
    except Exception as exc:
        LOG.error("SIGHUP: the new server could not start, the running one "
                  "keeps serving: %s: %s", type(exc).__name__, exc)


def _stop_and_close(svc: ServiceBase) -> None:
    """Stop (drain) `svc`, then close its access log: no request can write
    to the file any more, and a reload must not leak its descriptor."""
    svc.stop()
    access_log = getattr(svc, "access_log", None)
    if access_log is not None:
        access_log.close()


def _exit_at_once(*args) -> None:
    LOG.info("Caught SIGINT signal, instantaneous exiting")
    os._exit(1)


class Rolling:
    """Forked workers, replaced one at a time on SIGHUP, over a process
    launcher with oslo.service's ProcessLauncher members (children,
    sigcaught, running, wait_interval, _start_child, _wait_child)."""

    def _init_rolling(self, reloader: Reloader, listeners: Listeners) -> None:
        self.reloader = reloader
        self.listeners = listeners
        self._slots: dict[int, int] = {}  # pid -> its listening socket's slot
        self.failure = ""
        self._wrap = None
        self._ready: set[int] = set()
        self._retiring: dict[int, float] = {}  # pid -> when it gets SIGKILL
        self._exits: collections.deque[float] = collections.deque()
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)

    def launch_service(self, svc: ReplaceableService, workers: int = 1) -> None:
        svc.ready_fd = self._ready_w
        super().launch_service(svc, workers=workers)
        self._wrap = next(iter(self.children.values()))

    def wait(self) -> int:
        """Supervise until SIGTERM, a crash loop or a terminal hang-up; reload on SIGHUP."""
        systemd.notify_once()
        while True:
            self._supervise()
            if self.failure or self.sigcaught != signal.SIGHUP or _in_terminal_foreground():
                break
            self.sigcaught, self.running = None, True
            self._reload()
        terminated = self.sigcaught == signal.SIGTERM and not self.failure
        if self.conf.graceful_shutdown_timeout:
            signal.alarm(self.conf.graceful_shutdown_timeout)
        self.stop()
        return EXIT_TERMINATED if terminated else EXIT_FAILED

    # -- supervision ----------------------------------------------------------

    def _supervise(self) -> None:
        while self.running:
            if not self._poll():
                time.sleep(self.wait_interval)
            self._top_up()

    def _start_child(self, wrap, slot: int | None = None) -> int:
        """Fork a worker for `slot` (None: the first slot no serving worker has)."""
        if slot is None:
            taken = {n for pid, n in self._slots.items() if pid not in self._retiring}
            slot = next((n for n in range(len(self.listeners.socks)) if n not in taken), 0)
        self.listeners.slot = slot  # what the child's listeners.mine() returns
        pid = super()._start_child(wrap)  # a forked child never returns here
        self._slots[pid] = slot
        metrics.worker_started()
        return pid

    def _serving(self) -> set[int]:
        return self._wrap.children - self._retiring.keys()

    def _top_up(self) -> None:
        while self.running and len(self._serving()) < self._wrap.workers:
            self._start_child(self._wrap)

    def _poll(self) -> bool:
        """Read ready reports, enforce drain deadlines, reap one exited worker."""
        self._read_ready()
        now = time.monotonic()
        for pid, deadline in list(self._retiring.items()):
            if deadline and now > deadline:
                LOG.warning("worker %d still running %gs after graceful_shutdown_timeout: "
                            "killed", pid, KILL_MARGIN)
                _kill(pid, signal.SIGKILL)
                self._retiring[pid] = 0
        before = set(self.children)
        if self._wait_child() is None:
            return False
        for pid in before - set(self.children):
            self._ready.discard(pid)
            self._slots.pop(pid, None)
            metrics.worker_exited(pid, expected=pid in self._retiring)
            if self._retiring.pop(pid, None) is None:
                self._count_exit(pid, now)
        return True

    def _count_exit(self, pid: int, now: float) -> None:
        self._exits.append(now)
        while self._exits and now - self._exits[0] > CRASH_WINDOW:
            self._exits.popleft()
        if len(self._exits) >= CRASH_LIMIT and not self.failure:
            found = self.reloader.diagnose()
            self.failure = (f"workers keep exiting: {len(self._exits)} unexpected exits "
                            f"within {CRASH_WINDOW:g}s (the last: {pid})"
                            f"{'; ' + found if found else ''}; stopping")
            LOG.error("%s", self.failure)
            self.running = False

    def _read_ready(self) -> None:
        try:
            # posix.read: a green os.read would wait for data instead of
            # raising BlockingIOError on this non-blocking pipe.
            data = posix.read(self._ready_r, _PID.size * 256)
        except BlockingIOError:
            return
        self._ready.update(pid for (pid,) in _PID.iter_unpack(data))

    # -- reload ---------------------------------------------------------------

    def _reload(self) -> None:
        """Check the new config; then, for each serving worker, fork a new
        one, wait until it serves, retire the old one and wait for its exit."""
        if not self.reloader.accept():
            return
        old = sorted(self._serving())
        LOG.info("SIGHUP: replacing %d worker(s) one at a time", len(old))
        for pid in old:
            if not self.running:
                return  # SIGTERM, or another SIGHUP: wait() takes it from here
            if pid not in self._serving():
                continue
            if len(self._serving()) <= self._wrap.workers:
                new = self._start_child(self._wrap, self._slots.get(pid))
                if not self._until(lambda: new in self._ready or new not in self.children):
                    return
                if new not in self._ready:
                    LOG.error("SIGHUP: new worker %d exited before serving; the "
                              "remaining old workers keep serving", new)
                    return
            self._retire(pid)
            if not self._until(lambda: pid not in self.children):
                return
        LOG.info("SIGHUP: every worker replaced")

    def _retire(self, pid: int) -> None:
        # The worker bounds its own drain (WSGIService.stop); SIGKILL is the
        # safety net for one that hangs past it.
        timeout = self.conf.graceful_shutdown_timeout
        self._retiring[pid] = time.monotonic() + timeout + KILL_MARGIN if timeout else 0
        _kill(pid, signal.SIGTERM)

    def _until(self, done: Callable[[], bool]) -> bool:
        """Supervise until `done()`; False if a signal or a failure came first."""
        while self.running and not done():
            if not self._poll():
                time.sleep(self.wait_interval)
        return self.running

    def stop(self) -> None:
        """oslo's stop(), except that a worker already draining (retired by a
        reload) is not sent SIGTERM again: its first SIGTERM cleared its
        handlers, so a second one would kill it with requests in flight."""
        self.running = False
        for pid in list(self.children):
            if pid not in self._retiring:
                _kill(pid, signal.SIGTERM)
        if self.children:
            LOG.info("Waiting on %d children to exit", len(self.children))
        while self.children:
            if self._wait_child() is None:
                time.sleep(self.wait_interval)
        for fd in (self._ready_r, self._ready_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _kill(pid: int, signo: int) -> None:
    try:
        os.kill(pid, signo)
    except ProcessLookupError:
        pass

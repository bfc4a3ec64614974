"""The gevent backend's process manager: the bootstrap forks and supervises
the workers, without eventlet (oslo.service's launchers need it).

It offers the members of oslo.service's ProcessLauncher that
launchers.Rolling builds on (children, sigcaught, running, wait_interval,
_start_child, _wait_child), with the same signals: SIGTERM drains and
stops, SIGHUP reloads, SIGINT exits at once. A worker runs its service
until SIGTERM, then drains it (the service's stop()) and exits 0; it
exits 1 when the bootstrap dies under it.
"""

from __future__ import annotations

import collections
import gc
import logging
import os
import posix
import random
import signal
import time

import gevent
import gevent.event
import gevent.os
import gevent.queue
from oslo_config import cfg
from oslo_service import systemd

from multicloud_broker import metrics
from multicloud_broker.server.launchers import (EXIT_FAILED, EXIT_TERMINATED, Reloader,
                                                ReplaceableService, Rolling,
                                                _exit_at_once, _in_terminal_foreground,
                                                reload_in_place)
from multicloud_broker.server.sockets import Listeners

LOG = logging.getLogger(__name__)

WAIT_INTERVAL = 0.01  # s between two looks for exited workers, as oslo.service


class _Workers:
    """One service and the pids running it (oslo's ServiceWrapper)."""

    def __init__(self, service: ReplaceableService, workers: int):
        self.service = service
        self.workers = workers
        self.children: set[int] = set()
        self.forktimes: collections.deque[float] = collections.deque()


class ForkingLauncher:
    """Forks workers and reaps them; the bootstrap's side of oslo's ProcessLauncher."""

    def __init__(self, conf: cfg.ConfigOpts):
        self.conf = conf
        self.children: dict[int, _Workers] = {}
        self.sigcaught: int | None = None
        self.running = True
        self.wait_interval = WAIT_INTERVAL
        # Workers hold the read end: it reads EOF once the bootstrap is gone.
        self._alive_r, self._alive_w = os.pipe()
        self.handle_signal()

    def handle_signal(self) -> None:
        # Plain handlers: the supervision loop wakes every wait_interval, and
        # Python runs a handler at the next instruction of the main thread.
        signal.signal(signal.SIGTERM, self._handle_term)
        signal.signal(signal.SIGHUP, self._handle_hup)
        signal.signal(signal.SIGINT, _exit_at_once)
        signal.signal(signal.SIGALRM, _drain_overdue)

    def _handle_term(self, signo: int, frame) -> None:
        self.sigcaught, self.running = signo, False
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills

    def _handle_hup(self, signo: int, frame) -> None:
        self.sigcaught, self.running = signo, False

    def launch_service(self, svc: ReplaceableService, workers: int = 1) -> None:
        wrap = _Workers(svc, workers)
        # Objects made so far stay out of the collector's walks, so the
        # workers' copies of their pages stay shared.
        gc.freeze()
        LOG.info("Starting %d workers", workers)
        while self.running and len(wrap.children) < workers:
            self._start_child(wrap)

    def _start_child(self, wrap: _Workers) -> int:
        # At most one fork a second once `workers` forks are spent, as
        # oslo.service: a worker that dies at once is not respawned in a spin.
        if len(wrap.forktimes) > wrap.workers:
            if time.time() - wrap.forktimes[0] < wrap.workers:
                LOG.info("Forking too fast, sleeping")
                time.sleep(1)
            wrap.forktimes.popleft()
        wrap.forktimes.append(time.time())
        pid = gevent.os.fork_gevent()  # the child gets a fresh event loop
        if pid == 0:
            os._exit(self._run_worker(wrap.service))
        LOG.debug("Started child %d", pid)
        wrap.children.add(pid)
        self.children[pid] = wrap
        return pid

    def _wait_child(self) -> _Workers | None:
        """Reap one exited worker, if any (without waiting)."""
        try:
            # posix's own: gevent's waitpid is for children it watches itself.
            pid, status = posix.waitpid(0, os.WNOHANG)
        except ChildProcessError:
            return None
        if not pid:
            return None
        if os.WIFSIGNALED(status):
            LOG.info("Child %d killed by signal %d", pid, os.WTERMSIG(status))
        else:
            LOG.info("Child %d exited with status %d", pid, os.WEXITSTATUS(status))
        wrap = self.children.pop(pid, None)
        if wrap is None:
            LOG.warning("pid %d not in child list", pid)
            return None
        wrap.children.discard(pid)
        return wrap

    # -- in the worker --------------------------------------------------

    def _run_worker(self, svc: ReplaceableService) -> int:
        """Serve until SIGTERM (drain, 0) or the bootstrap's death (1)."""
        for signo in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(signo, signal.SIG_DFL)
        signal.signal(signal.SIGINT, _exit_at_once)
        os.close(self._alive_w)
        random.seed()
        asked = gevent.event.Event()
        gevent.signal_handler(signal.SIGTERM, asked.set)
        orphaned = gevent.spawn(_read_eof, self._alive_r)
        try:
            svc.start()
        except Exception:
            LOG.exception("worker %d could not start", os.getpid())
            return EXIT_FAILED
        serving = gevent.spawn(svc.wait)
        gevent.wait([asked, orphaned, serving], count=1)
        if asked.is_set():
            svc.stop()
            return EXIT_TERMINATED
        LOG.info("Parent process has died unexpectedly, exiting" if orphaned.ready()
                 else "worker %d: its server stopped by itself" % os.getpid())
        svc.stop()
        return EXIT_FAILED


def _read_eof(fd: int) -> None:
    os.set_blocking(fd, False)
    while gevent.os.nb_read(fd, 1):
        pass


def _drain_overdue(*args) -> None:
    LOG.info("Graceful shutdown timeout exceeded, instantaneous exiting")
    os._exit(EXIT_FAILED)


class RollingProcessLauncher(Rolling, ForkingLauncher):
    """Forked gevent workers, replaced one at a time on SIGHUP."""

    def __init__(self, conf: cfg.ConfigOpts, reloader: Reloader, listeners: Listeners):
        ForkingLauncher.__init__(self, conf)
        self._init_rolling(reloader, listeners)


class InProcessLauncher:
    """One worker, served in the bootstrap process: SIGTERM drains and
    exits 0, SIGHUP swaps in a server built from the checked new
    configuration (a hang-up of the terminal stops), SIGINT exits at once."""

    def __init__(self, conf: cfg.ConfigOpts, reloader: Reloader):
        self.conf = conf
        self.reloader = reloader
        self._signals: gevent.queue.Queue = gevent.queue.Queue()
        self.svc: ReplaceableService | None = None

    def launch_service(self, svc: ReplaceableService, workers: int = 1) -> None:
        self.svc = svc
        metrics.worker_started()  # the one worker is this process
        for signo in (signal.SIGTERM, signal.SIGHUP):
            gevent.signal_handler(signo, self._signals.put, signo)
        signal.signal(signal.SIGINT, _exit_at_once)
        svc.start()

    def wait(self) -> int:
        """Serve until SIGTERM, a terminal hang-up or the server's own end."""
        systemd.notify_once()
        serving = gevent.spawn(self.svc.wait)
        while True:
            got = gevent.spawn(self._signals.get)
            gevent.wait([got, serving], count=1)
            if not got.ready():
                got.kill()
                LOG.error("the server stopped by itself")
                self.svc.stop()
                return EXIT_FAILED
            signo = got.value
            if signo == signal.SIGTERM:
                LOG.info("Caught SIGTERM, stopping")
                self.svc.stop()
                return EXIT_TERMINATED
            if _in_terminal_foreground():
                LOG.info("SIGHUP from the terminal: stopping")
                self.svc.stop()
                return EXIT_FAILED
            reload_in_place(self.reloader, self.svc)
            # The waiter watched the server before the reload (now stopped).
            serving.kill()
            serving = gevent.spawn(self.svc.wait)

    def exit_status(self, status: int) -> int:
        return status

"""oslo.service's eventlet launchers, for the eventlet backend.

InProcessLauncher serves one worker in the bootstrap process (oslo's
ServiceLauncher); RollingProcessLauncher forks the workers (oslo's
ProcessLauncher) with launchers.Rolling's reload, crash limit and slots.
The private oslo.service members relied on (ProcessLauncher._start_child,
_wait_child, children, sigcaught, running; ServiceWrapper.children/workers)
are pinned by tests/server/test_reload.py::test_oslo_service_internals_we_rely_on.
"""

from __future__ import annotations

import logging
import os
import signal

import eventlet
from oslo_config import cfg
from oslo_service import service

from multicloud_broker import metrics
from multicloud_broker.server.launchers import (EXIT_FAILED, EXIT_TERMINATED, Reloader,
                                                ReplaceableService, Rolling,
                                                _exit_at_once, _in_terminal_foreground,
                                                reload_in_place)
from multicloud_broker.server.sockets import Listeners

LOG = logging.getLogger(__name__)


class InProcessLauncher(service.ServiceLauncher):
    """One worker, served in the bootstrap process (oslo's ServiceLauncher)."""

    def __init__(self, conf: cfg.ConfigOpts, reloader: Reloader):
        super().__init__(conf, restart_method="reload")
        self.reloader = reloader
        self.terminated = False

    def handle_signal(self) -> None:
        super().handle_signal()
        # Called after oslo's own handler is added: handlers run newest first.
        self.signal_handler.add_handler("SIGTERM", self._note_term)
        self.signal_handler.add_handler("SIGHUP", self._hang_up)

    def _note_term(self, *args) -> None:
        self.terminated = True

    def _hang_up(self, *args) -> None:
        # oslo's own handler (run next) ends wait()'s loop on a terminal
        # hang-up but leaves the service running, so wait() never returned.
        if _in_terminal_foreground():
            LOG.info("SIGHUP from the terminal: stopping")
            self.stop()

    def launch_service(self, svc: ReplaceableService, workers: int = 1) -> None:
        self.replaceable = svc
        metrics.worker_started()  # the one worker is this process
        super().launch_service(svc, workers=workers)

    def restart(self) -> None:
        """SIGHUP (oslo cleared every handler first): check, then swap in place."""
        pending: set[str] = set()
        self.signal_handler.add_handler("SIGHUP", lambda *a: pending.add("SIGHUP"))
        self.signal_handler.add_handler("SIGTERM", lambda *a: pending.add("SIGTERM"))
        self.signal_handler.add_handler("SIGINT", _exit_at_once)
        reload_in_place(self.reloader, self.replaceable)
        # A signal that came during the swap is sent again once oslo's
        # handlers are back (wait() re-installs them when this returns);
        # SIGTERM wins: a SIGHUP after it would meet no handler.
        if pending:
            signo = signal.SIGTERM if "SIGTERM" in pending else signal.SIGHUP
            eventlet.spawn(os.kill, os.getpid(), signo)

    def exit_status(self, status: object) -> int:
        return EXIT_TERMINATED if self.terminated else (status if isinstance(status, int)
                                                        and status else EXIT_FAILED)


class RollingProcessLauncher(Rolling, service.ProcessLauncher):
    """oslo.service's forked workers, replaced one at a time on SIGHUP."""

    def __init__(self, conf: cfg.ConfigOpts, reloader: Reloader, listeners: Listeners):
        service.ProcessLauncher.__init__(self, conf, restart_method="reload")
        self._init_rolling(reloader, listeners)

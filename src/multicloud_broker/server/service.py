"""The one place that runs a WSGI server: eventlet's, in an oslo.service.

Replacing eventlet later means replacing this module.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

import eventlet
import greenlet
import eventlet.wsgi
from oslo_config import cfg
from oslo_service import service

from multicloud_broker.core import health
from multicloud_broker.server.access_log import AccessLog, open_access_log
from multicloud_broker.server.http_rules import configured_limits, connection_limit
from multicloud_broker.server.launchers import report_serving, stop_being_ready, tune_gc
from multicloud_broker.server.protocol import ConnectionPool, Limits, Listener, make_protocol

LOG = logging.getLogger(__name__)


class _QuietLog:
    """eventlet's own per-connection messages go to debug level."""

    def info(self, msg, *args):
        LOG.debug(msg, *args)

    debug = info
    error = info

    def write(self, msg):
        LOG.debug(msg.rstrip())


def wrap_tls(sock: socket.socket, conf: cfg.ConfigOpts) -> socket.socket:
    """The socket wrapped for HTTPS when [ssl] enabled, else as it is."""
    if not conf.ssl.enabled:
        return sock
    return eventlet.wrap_ssl(sock, certfile=conf.ssl.cert_file,
                             keyfile=conf.ssl.key_file, server_side=True)


def _wait(server: eventlet.greenthread.GreenThread) -> None:
    # A killed green thread re-raises GreenletExit in whoever waits for it;
    # here that is the expected end, not an error to pass on.
    try:
        server.wait()
    except greenlet.GreenletExit:
        pass


class WSGIService(service.ServiceBase):
    """Serves a WSGI app on the inherited listening socket."""

    def __init__(self, conf: cfg.ConfigOpts, sock: socket.socket,
                 app_factory: Callable[[], Callable]):
        self.conf = conf
        self.sock = sock
        self.app_factory = app_factory
        self._server = None

    def start(self) -> None:
        conf = self.conf
        health.set_draining(False)
        # Opened at every start: after SIGHUP a rotated log file is reopened.
        # Kept so that whoever stops this service closes the file once drained.
        self.access_log = app = AccessLog(self.app_factory(), open_access_log(conf.access_log),
                                          conf.log_format, conf.access_log_buffer)
        tune_gc()
        socket_timeout = conf.client_socket_timeout or None
        self._limits = Limits(**configured_limits(conf), log_refusal=app.refused)
        self._pool = ConnectionPool(connection_limit(conf.max_connections), app.refused)
        keepalive = (conf.keepalive_timeout or False) if conf.wsgi_keep_alive else False
        # The server closes the socket it is given when it stops: hand it a
        # duplicate, so the shared socket stays open across reloads.
        sock = Listener(wrap_tls(self.sock.dup(), conf))
        self._server = eventlet.spawn(
            eventlet.wsgi.server, sock, app,
            protocol=make_protocol(self._limits), custom_pool=self._pool,
            keepalive=keepalive, socket_timeout=socket_timeout,
            url_length_limit=conf.max_url_length,
            log=_QuietLog(), log_output=False, debug=False,
            capitalize_response_headers=False)
        report_serving(conf, self._limits, self._pool.running, self._pool.size)

    def stop(self, graceful: bool = True) -> None:
        """Stop accepting and drain, within graceful_shutdown_timeout: every
        accepted connection gets its request served (with Connection: close),
        idle kept-alive ones are closed, in-flight requests finish."""
        if self._server is None:
            return
        server, self._server = self._server, None
        grace = stop_being_ready(self.conf, graceful)
        self._limits.stopping = True
        server.kill()  # the accept loop ends; its `finally` waits for the pool
        idle = self._limits.begin_drain()
        LOG.info("worker %d draining: %d connection(s) open, %d idle closed",
                 os.getpid(), self._pool.running(), idle)
        with eventlet.Timeout(grace, False):
            _wait(server)
            return
        LOG.warning("worker %d: drain not done after %s s; closing %d connection(s)",
                    os.getpid(), grace, self._pool.running())
        self._pool.kill_all()
        _wait(server)

    def wait(self) -> None:
        if self._server is not None:
            _wait(self._server)

    def reset(self) -> None:
        """After SIGHUP: the next start() builds the app from the new config."""

"""The one place that runs a WSGI server: eventlet's, in an oslo.service.

Replacing eventlet later means replacing this module.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable

import eventlet
import greenlet
import eventlet.wsgi
from oslo_config import cfg
from oslo_service import service

from multicloud_broker.server.access_log import AccessLog, open_access_log
from multicloud_broker.server.sockets import wrap_tls

LOG = logging.getLogger(__name__)


class _QuietLog:
    """eventlet's own per-connection messages go to debug level."""

    def info(self, msg, *args):
        LOG.debug(msg, *args)

    debug = info
    error = info

    def write(self, msg):
        LOG.debug(msg.rstrip())


def _response_414(limit: int) -> bytes:
    """The whole answer eventlet sends to an over-long request line, before
    any app sees the request: in the broker's JSON error shape."""
    body = json.dumps({"error": f"request line over {limit} bytes"}).encode()
    head = ("HTTP/1.0 414 Request URI Too Long\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


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
        # Opened at every start: after SIGHUP a rotated log file is reopened.
        app = AccessLog(self.app_factory(), open_access_log(conf.access_log),
                        conf.log_format, conf.access_log_buffer)
        eventlet.wsgi.MAX_HEADER_LINE = conf.max_header_line
        eventlet.wsgi.RESPONSE_414 = _response_414(conf.max_url_length)
        # The server closes the socket it is given when it stops: hand it a
        # duplicate, so the shared socket stays open across reloads.
        sock = wrap_tls(self.sock.dup(), conf)
        self._server = eventlet.spawn(
            eventlet.wsgi.server, sock, app,
            custom_pool=eventlet.GreenPool(conf.wsgi_pool_size),
            keepalive=conf.wsgi_keep_alive,
            socket_timeout=conf.client_socket_timeout or None,
            url_length_limit=conf.max_url_length,
            log=_QuietLog(), log_output=False, debug=False,
            capitalize_response_headers=False)
        LOG.info("worker %d serving %s on %s:%d", os.getpid(), conf.web_framework,
                 conf.bind_host, conf.bind_port)

    def stop(self, graceful: bool = True) -> None:
        """Stop accepting; wait for in-flight requests (launcher bounds it)."""
        if self._server is not None:
            server, self._server = self._server, None
            server.kill()  # the accept loop ends; its `finally` drains the pool
            _wait(server)

    def wait(self) -> None:
        if self._server is not None:
            _wait(self._server)

    def reset(self) -> None:
        """After SIGHUP: the next start() builds the app from the new config."""

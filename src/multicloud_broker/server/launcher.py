"""The bootstrap process: bind once, then fork the workers under oslo.service."""

from __future__ import annotations

import logging
from collections.abc import Callable

from oslo_config import cfg
from oslo_service import service

from multicloud_broker.server.cpus import usable_cpus
from multicloud_broker.server.service import WSGIService
from multicloud_broker.server.sockets import check_tls, listen, raise_open_file_limit

LOG = logging.getLogger(__name__)


def serve(conf: cfg.ConfigOpts, app_factory: Callable[[], Callable]) -> int:
    """Serve `app_factory()`'s app until SIGTERM/SIGINT; returns an exit code.

    Raises BindError (from sockets) when the address or certificate is unusable.
    """
    nofile = raise_open_file_limit()
    check_tls(conf)
    sock = listen(conf)
    workers = conf.workers or usable_cpus()
    scheme = "https" if conf.ssl.enabled else "http"
    LOG.info("multicloud-broker: %s framework on %s://%s:%d, %d worker(s), "
             "open-file limit %d", conf.web_framework, scheme, conf.bind_host,
             conf.bind_port, workers, nofile)
    wsgi_service = WSGIService(conf, sock, app_factory)
    # One worker is served in this process; more are forked, sharing `sock`.
    launcher = service.launch(conf, wsgi_service, workers=workers,
                              restart_method="reload")
    launcher.wait()
    return 0

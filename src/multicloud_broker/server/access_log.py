"""One access-log line per request, as WSGI middleware around the app."""

from __future__ import annotations

import logging
import os
import time

LOG = logging.getLogger("multicloud_broker.access")


class AccessLog:
    """Logs time, worker pid, method, path, status, duration, transaction id."""

    def __init__(self, app):
        self.app = app
        self.pid = os.getpid()

    def __call__(self, environ, start_response):
        started = time.monotonic()
        seen: list = []

        def capture(status, headers, exc_info=None):
            seen[:] = (status, headers)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, capture)
        finally:
            status, headers = seen if seen else ("500", ())
            txid = next((v for k, v in headers if k.lower() == "x-transactionid"), "-")
            LOG.info("%d %s %s %s %.1fms %s", self.pid, environ["REQUEST_METHOD"],
                     environ.get("PATH_INFO", ""), status[:3],
                     (time.monotonic() - started) * 1000, txid)

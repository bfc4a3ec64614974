"""Logging: the application log to stderr, the access log to stdout or a file."""

from __future__ import annotations

import logging
import sys

from oslo_config import cfg

from multicloud_broker.core.correlation import TRANSACTION_ID

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s [%(txid)s]: %(message)s"
ACCESS_FORMAT = "%(asctime)s %(message)s"


def setup_logging(conf: cfg.ConfigOpts) -> None:
    """Configure the root logger and the access logger from `conf`."""
    root = logging.getLogger()
    app_handler = _handler(logging.StreamHandler(sys.stderr), FORMAT)
    app_handler.addFilter(_add_transaction_id)
    root.handlers[:] = [app_handler]
    root.setLevel(conf.log_level)
    access = logging.getLogger("multicloud_broker.access")
    target = (logging.FileHandler(conf.access_log) if conf.access_log
              else logging.StreamHandler(sys.stdout))
    access.handlers[:] = [_handler(target, ACCESS_FORMAT)]
    access.setLevel(logging.INFO)
    access.propagate = False


def _add_transaction_id(record: logging.LogRecord) -> bool:
    record.txid = TRANSACTION_ID.get()
    return True


def _handler(handler: logging.Handler, fmt: str) -> logging.Handler:
    handler.setFormatter(logging.Formatter(fmt))
    return handler

"""The application log, to stderr (the access log: server/access_log.py)."""

from __future__ import annotations

import logging
import sys

from oslo_config import cfg

from multicloud_broker.core.correlation import TRANSACTION_ID

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s [%(txid)s]: %(message)s"


def setup_logging(conf: cfg.ConfigOpts) -> None:
    """Configure the root logger from `conf`."""
    # Neither the caller's source line nor the thread name is in the format:
    # skip computing them for every record (the logging HOWTO's optimisation).
    logging._srcfile = None
    logging.logThreads = False
    root = logging.getLogger()
    app_handler = _handler(logging.StreamHandler(sys.stderr), FORMAT)
    app_handler.addFilter(_add_transaction_id)
    root.handlers[:] = [app_handler]
    root.setLevel(conf.log_level)


def _add_transaction_id(record: logging.LogRecord) -> bool:
    record.txid = TRANSACTION_ID.get()
    return True


def _handler(handler: logging.Handler, fmt: str) -> logging.Handler:
    handler.setFormatter(logging.Formatter(fmt))
    return handler

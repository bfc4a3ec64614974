"""The application log, to stderr (the access log: server/access_log.py).

`log_format = json` makes each record one JSON object per line, carrying the
ONAP logging fields of the request being handled (set by the access log
middleware in REQUEST_CONTEXT) and its transaction id.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import sys
from contextvars import ContextVar
from typing import NamedTuple

from oslo_config import cfg

from multicloud_broker.core.correlation import TRANSACTION_ID

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s [%(txid)s]: %(message)s"


class RequestContext(NamedTuple):
    """ONAP correlation fields of the request being handled (escaped values)."""

    request_id: str
    invocation_id: str
    partner: str
    client: str


# Green threads (greenlets) each have their own context, so this is per request.
REQUEST_CONTEXT: ContextVar[RequestContext | None] = ContextVar("request_context",
                                                                 default=None)


def setup_logging(conf: cfg.ConfigOpts) -> None:
    """Configure the root logger from `conf`."""
    # Neither the caller's source line nor the thread name is in the format:
    # skip computing them for every record (the logging HOWTO's optimisation).
    logging._srcfile = None
    logging.logThreads = False
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    if getattr(conf, "log_format", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_add_transaction_id)
    root.handlers[:] = [handler]
    root.setLevel(conf.log_level)


def _add_transaction_id(record: logging.LogRecord) -> bool:
    record.txid = TRANSACTION_ID.get()
    return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the request's ONAP fields when in one."""

    def __init__(self):
        super().__init__()
        self.host = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        txid = TRANSACTION_ID.get()
        entry = {
            "time": datetime.datetime.fromtimestamp(
                record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": message,
            "server": self.host, "pid": record.process or os.getpid(),
            "TransactionID": txid,
        }
        context = REQUEST_CONTEXT.get()
        if context is not None:
            entry.update(RequestID=context.request_id if context.request_id != "-" else txid,
                         InvocationID=context.invocation_id,
                         PartnerName=context.partner, ClientIPAddress=context.client)
        # ensure_ascii: control characters and line breaks are escaped, so a
        # record is always exactly one line.
        return json.dumps(entry, separators=(",", ":"))

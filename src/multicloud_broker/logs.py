"""The application log, to stderr (the access log: server/access_log.py).

`log_format = json` makes each record one JSON object per line, carrying the
ONAP logging fields of the request being handled (set by the access log
middleware in REQUEST_CONTEXT) and its transaction id.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import sys
import time
from contextvars import ContextVar
from typing import NamedTuple

from oslo_config import cfg

from multicloud_broker import warnings_log
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
    handler = _stderr_handler()
    if getattr(conf, "log_format", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_add_transaction_id)
    root.handlers[:] = [handler]
    root.setLevel(conf.log_level)


def setup_plain_logging(level: int = logging.WARNING) -> None:
    """Text records on stderr for the commands that have no configuration of
    their own (region, demo, the simulated cloud), warnings among them."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    warnings_log.to_logging()


def _stderr_handler() -> logging.Handler:
    """A handler for stderr that never blocks the process when stderr is a
    pipe whose reader lags (journald takes stdout and stderr on one stream):
    records then go through the same queued writer as the access log."""
    try:
        regular = stat.S_ISREG(os.fstat(sys.stderr.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        regular = True  # no real fd (captured by a test runner): write as usual
    if regular:
        return logging.StreamHandler(sys.stderr)
    # Imported here: needed only when stderr is not a regular file.
    from multicloud_broker.server.log_writer import LineWriter
    return LineHandler(LineWriter(sys.stderr.fileno(), name="application log"))


class LineHandler(logging.Handler):
    """Hands each formatted record, as one line, to a LineWriter."""

    def __init__(self, writer):
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            self.writer.write(line.encode("utf-8", "backslashreplace"))
        except Exception:
            self.handleError(record)


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
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
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

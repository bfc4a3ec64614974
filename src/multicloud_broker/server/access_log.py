"""One access-log line per request, as WSGI middleware around the app.

Written with one os.write per line rather than through `logging`: the line
is complete on disk at once (O_APPEND keeps workers' lines whole), and it
costs a fraction of a LogRecord on the hot path.
"""

from __future__ import annotations

import os
import posix
import stat
import sys
import time
from collections.abc import Callable


def open_access_log(path: str) -> int:
    """A file descriptor for the access log: the file at `path`, else stdout."""
    if not path:
        return sys.stdout.fileno()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def writer_for(fd: int) -> Callable[[int, bytes], int]:
    """The write function for `fd`.

    A regular file never makes a writer wait, so it gets the system call
    itself: eventlet's green os.write stats the file before every write
    (2.5 us against 0.7 us per line, measured). Pipes and terminals keep the
    green write, which yields to other requests while the reader lags.
    """
    return posix.write if stat.S_ISREG(os.fstat(fd).st_mode) else os.write


class _Clock:
    """`2026-11-25 07:03:11,123`, formatting the seconds once per second."""

    def __init__(self):
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._prefix},{int((now - second) * 1000):03d}"


class AccessLog:
    """Logs time, worker pid, method, path, status, duration, transaction id."""

    def __init__(self, app, fd: int):
        self.app = app
        self.fd = fd
        self.write = writer_for(fd)
        self.pid = os.getpid()
        self.clock = _Clock()

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
            line = (f"{self.clock.now()} {self.pid} {environ['REQUEST_METHOD']} "
                    f"{environ.get('PATH_INFO', '')} {status[:3]} "
                    f"{(time.monotonic() - started) * 1000:.1f}ms {txid}\n")
            try:
                self.write(self.fd, line.encode("utf-8", "replace"))
            except OSError:
                pass  # a full disk or closed stdout must not fail the request

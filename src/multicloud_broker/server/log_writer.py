"""Writing log lines to a file descriptor without ever making a request wait.

A regular file takes a line at once (O_APPEND keeps the workers' lines whole),
so it is written directly. Anything else -- a pipe to a container runtime or
journald, a terminal, /dev/null -- is written by one OS thread per process
from a bounded queue of lines: a reader that lags slows no request, only
fills the queue; when the queue is full the line is dropped, counted
(`dropped_lines()`, for a metric) and reported by a warning at most every
WARN_INTERVAL seconds. Lines a caller leaves out on purpose (`skip()`, a
rate limit) are counted and reported the same way.

Under eventlet (or no green library) the writer is a real OS thread, not a
green thread: it blocks in write(2) (or poll(2) when someone made the pipe
non-blocking) with the GIL released, so eventlet's hub never waits on the
log reader. Under gevent it is a greenlet that hands each write to gevent's
pool of OS threads: it waits for the write, the event loop does not. It
never calls `logging` (whose locks are green); warnings are issued from
the request side.
"""

from __future__ import annotations

import atexit
import collections
import errno
import importlib
import logging
import os
import stat
import sys
import time
import weakref


def _original(name: str):
    """The module as it was before eventlet's monkey-patching, when eventlet
    is there (the writer must be a real OS thread); else the module itself.
    Under another WSGI server, eventlet is not imported for the log's sake."""
    patcher = sys.modules.get("eventlet.patcher")
    return patcher.original(name) if patcher is not None else importlib.import_module(name)


_threading = _original("threading")
_select = _original("select")
_sleep = _original("time").sleep

LOG = logging.getLogger(__name__)

PIPE_BUF = 4096           # writes up to this size to a pipe are never interleaved
WARN_INTERVAL = 10.0      # seconds between two warnings about dropped lines
DEFAULT_CAPACITY = 10000  # queued lines per process, about 1-2 MB
# Once woken, the writer lets lines gather this long: under load one wake-up
# (and one hand-over of the GIL) writes a batch, not a line.
BATCH_DELAY = 0.005

_writers: "weakref.WeakSet[LineWriter]" = weakref.WeakSet()
_dropped_by_closed = 0


def dropped_lines() -> int:
    """Lines this process could not log since it started (all writers, closed ones too)."""
    return _dropped_by_closed + sum(w.dropped for w in list(_writers))


def flush_all(timeout: float = 5.0) -> None:
    """Write out every writer's queue: before a worker exits (oslo.service
    ends workers with os._exit, which runs no atexit handler)."""
    for writer in list(_writers):
        writer.flush(timeout)


atexit.register(flush_all)


class LineWriter:
    """Writes whole lines (bytes ending in a newline) to `fd`."""

    def __init__(self, fd: int, capacity: int = DEFAULT_CAPACITY, owns_fd: bool = False,
                 name: str = "log"):
        self.fd = fd
        self.name = name
        self.owns_fd = owns_fd
        self.capacity = capacity
        self._direct = stat.S_ISREG(os.fstat(fd).st_mode)
        self._overflowed = 0     # counted on the request side
        self._failed = 0         # counted by the writer thread
        self._skipped = 0        # left out by the caller (a rate limit)
        self._skips_reported = 0
        self._reported = 0       # dropped lines already warned about
        self._report_due = False
        self._last_warning = -WARN_INTERVAL
        self._closed = False
        self._reset()
        _writers.add(self)
        if self._direct:
            self.write = self._write_file  # no queue, no checks: the hot path

    def _reset(self) -> None:
        self._lines: collections.deque[bytes] = collections.deque()
        self._wake = _threading.Event()
        self._idle = _threading.Event()
        self._idle.set()
        self._thread = None

    @property
    def dropped(self) -> int:
        return self._overflowed + self._failed + self._skipped

    def skip(self) -> None:
        """Count a line the caller leaves out (a rate limit): dropped, and reported."""
        self._skipped += 1
        self._report_due = True
        self._report()

    def write(self, line: bytes) -> None:
        """Hand over one line; never blocks on the reader."""
        if len(self._lines) < self.capacity:
            self._lines.append(line)
            if not self._wake.is_set():
                self._wake.set()
                if self._thread is None:
                    self._start()
        else:
            self._overflowed += 1
            self._report_due = True
        if self._report_due:
            self._report()

    def _write_file(self, line: bytes) -> None:
        try:
            _posix_write(self.fd, line)
        except OSError:
            self._failed += 1  # a full disk must not fail the request
            self._report_due = True
            self._report()

    def _start(self) -> None:
        self._thread = _threading.Thread(target=self._run, name=f"{self.name}-writer",
                                         daemon=True)
        self._thread.start()

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._last_warning < WARN_INTERVAL:
            return
        dropped, skipped = self.dropped, self._skipped
        self._last_warning, self._report_due = now, False
        causes = []
        if dropped - self._reported > skipped - self._skips_reported:
            causes.append(f"the reader of fd {self.fd} is too slow or gone")
        if skipped > self._skips_reported:
            causes.append(f"{skipped - self._skips_reported} over a rate limit")
        LOG.warning("%s: %d lines dropped (%d in all): %s", self.name,
                    dropped - self._reported, dropped, "; ".join(causes))
        self._reported, self._skips_reported = dropped, skipped

    def _run(self) -> None:
        lines, wake, idle = self._lines, self._wake, self._idle
        while True:
            wake.wait()
            idle.clear()
            if not self._closed:
                _sleep(BATCH_DELAY)
            wake.clear()
            while lines:
                self._flush_batch(lines)
            idle.set()
            if self._closed:
                self._close_fd()  # here: no write of ours can follow it
                return

    def _flush_batch(self, lines: collections.deque) -> None:
        """One write of whole lines, at most PIPE_BUF bytes unless a line is longer."""
        batch = [lines.popleft()]
        size = len(batch[0])
        while lines and size + len(lines[0]) <= PIPE_BUF:
            line = lines.popleft()
            batch.append(line)
            size += len(line)
        try:
            _write_all(self.fd, b"".join(batch))
        except OSError:
            self._failed += len(batch)
            self._report_due = True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the queued lines are written (or `timeout`); True when done."""
        if self._direct or self._thread is None:
            return True
        deadline = time.monotonic() + timeout
        while self._lines or not self._idle.is_set():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for `timeout` at most), report drops, close the fd
        unless it is standard output or error (or not ours)."""
        global _dropped_by_closed
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        if self._thread is None:
            self._close_fd()
        else:
            # The thread writes what is left (if the reader ever comes back),
            # then closes the fd: closed here, its number could be reused by
            # another file while the thread still writes to it.
            self._wake.set()
        if self.dropped > self._reported:
            self._last_warning = -WARN_INTERVAL
            self._report()
        _writers.discard(self)
        _dropped_by_closed += self.dropped

    def _close_fd(self) -> None:
        if self.owns_fd and self.fd > 2:
            try:
                os.close(self.fd)
            except OSError:
                pass


def _after_fork() -> None:
    # A forked worker inherits the queue but not the thread: it starts afresh
    # (a new thread on first use) and counts its own drops.
    global _dropped_by_closed
    _dropped_by_closed = 0
    for writer in list(_writers):
        writer._reset()
        writer._overflowed = writer._failed = writer._reported = 0
        writer._skipped = writer._skips_reported = 0


os.register_at_fork(after_in_child=_after_fork)


# The system call itself: eventlet's green os.write stats the fd before every
# write and may trampoline; a regular file never makes the writer wait.
_posix_write = _original("os").write


def _in_gevent_thread_pool(write):
    """`write` run in gevent's pool of OS threads when gevent has patched
    threading (this writer is then a greenlet); else `write` itself."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return write
    import gevent

    def pooled(fd: int, data: bytes) -> None:
        gevent.get_hub().threadpool.apply(write, (fd, data))
    return pooled


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data`, waiting in poll(2) while a non-blocking pipe is full."""
    view = memoryview(data)
    while view:
        try:
            view = view[_posix_write(fd, view):]
        except BlockingIOError:
            poller = _select.poll()
            poller.register(fd, _select.POLLOUT)
            poller.poll(1000)
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                continue
            raise


_write_all = _in_gevent_thread_pool(_write_all)

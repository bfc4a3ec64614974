"""Processes the harness starts: each in its own session, stopped by PID.

Nothing here signals a process the harness did not start: a server's workers
are found as descendants of the PID we started (and checked to still be in
the session we created for it) before they are signalled.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path


class StartError(Exception):
    """A server did not come up; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of a live process, None if gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[3])


def descendants(pid: int) -> list[int]:
    """PIDs of every live process below `pid`, children first."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st:
                parents.setdefault(st[0], []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Proc:
    """One started process with its stdout/stderr in files."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 stop_signal: int = signal.SIGTERM, stdout_pipe: bool = False):
        self.name = name
        self.argv = list(argv)
        self.stop_signal = stop_signal
        self.out_path = log_dir / f"{name}.out"
        self.err_path = log_dir / f"{name}.err"
        self.stdout_bytes = self.stdout_lines = 0  # counted only with stdout_pipe
        self.piped = stdout_pipe
        self._reader: threading.Thread | None = None
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            # A new session: its PID is also the session id of all its workers,
            # which lets stop() recognise them (and only them) later.
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else out, stderr=err,
                env=env, cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid
        if stdout_pipe:
            # As in a container: stdout is a pipe that a reader drains (and
            # discards) as fast as it can, like `cat > /dev/null`.
            self._reader = threading.Thread(target=self._drain, name=f"drain-{name}",
                                            daemon=True)
            self._reader.start()

    def _drain(self) -> None:
        fd = self.popen.stdout.fileno()
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            self.stdout_bytes += len(chunk)
            self.stdout_lines += chunk.count(b"\n")
        self.popen.stdout.close()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        text = []
        for path in (self.err_path, self.out_path):
            try:
                text += path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                pass
        return "\n".join(text)

    def log_counts(self) -> dict[str, int]:
        """WARNING/ERROR lines in the process's stderr, by message (ids stripped).

        A server that is slow because it logs a warning per request (e.g.
        urllib3 discarding pooled connections) shows it here.
        """
        import re
        counts: dict[str, int] = {}
        try:
            with open(self.err_path, errors="replace") as handle:
                for line in handle:
                    found = re.search(r"\b(WARNING|ERROR|CRITICAL)\b(.*)", line)
                    if found and "running uWSGI as root" not in line:  # start-up notice
                        # Transaction ids, pids and numbers differ per line.
                        key = re.sub(r"\[[0-9a-f-]{8,}\]|\b\d+\b", "#", found.group(0))[:160]
                        counts[key] = counts.get(key, 0) + 1
        except OSError:
            pass
        return counts

    def workers(self) -> list[int]:
        """Descendant PIDs that are still in this process's session."""
        return [p for p in descendants(self.pid) if (_stat(p) or (0, 0))[1] == self.pid]

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the process to stop; kill it and its leftovers, by PID, if it will not."""
        if not self.alive():
            self._reap_leftovers([])
            return
        below = self.workers()
        try:
            os.kill(self.pid, self.stop_signal)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(5)
        self._reap_leftovers(below)
        if self._reader is not None:
            self._reader.join(10)  # the last lines, once every writer has exited

    def _reap_leftovers(self, known: list[int]) -> None:
        deadline = time.monotonic() + 5
        for pid in known:
            while time.monotonic() < deadline and (_stat(pid) or (0, 0))[1] == self.pid:
                time.sleep(0.05)
            if (_stat(pid) or (0, 0))[1] == self.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def wait_http(proc: Proc, port: int, path: str, timeout: float = 40.0,
              headers: dict[str, str] | None = None) -> None:
    """Return once GET path answers 2xx; StartError if the process dies or never does."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            if 200 <= resp.status < 300:
                return
            last = f"HTTP {resp.status}"
        except OSError as exc:
            last = str(exc)
        finally:
            conn.close()
        time.sleep(0.2)
    raise StartError(f"{proc.name} did not answer GET {path} in {timeout:.0f}s "
                     f"({last}):\n{proc.tail()}")

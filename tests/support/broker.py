"""Run the real broker as a subprocess, and its CLI, from tests."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.support.upstreams import LOCALHOST, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_ROOT / "src"

# ONAP deployment variables the broker reads; a test's broker must not inherit them.
ONAP_ENV_VARS = ("WEB_FRAMEWORK", "MSB_PROTO", "MSB_ADDR", "MSB_PORT", "AAI_PROTOCOL",
                 "AAI_ADDR", "AAI_PORT", "AAI_SCHEMA_VERSION", "AAI_USERNAME",
                 "AAI_PASSWORD", "SSL_ENABLED", "SERVER_BACKEND")

Config = Mapping[str, Mapping[str, object]]


def broker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a broker child: ours minus ONAP variables, src importable."""
    env = {k: v for k, v in os.environ.items() if k not in ONAP_ENV_VARS}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SRC_DIR), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def write_config(path: Path, config: Config) -> Path:
    """Write an oslo.config INI file: {section: {option: value}}; lists joined by commas."""
    lines: list[str] = []
    for section, options in config.items():
        lines.append(f"[{section}]")
        for name, value in options.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, Mapping):
                value = ",".join(f"{k}:{v}" for k, v in value.items())
            elif isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            lines.append(f"{name} = {value}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def run_cli(args: Sequence[str], timeout: float = 30.0,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m multicloud_broker ARGS` and return the finished process."""
    return subprocess.run([sys.executable, "-m", "multicloud_broker", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=broker_env(env), cwd=str(REPO_ROOT))


def region_add(config_file: Path, owner: str, region: str, cloud_type: str,
               version: str) -> None:
    """`multicloud-broker region add` into the sqlite inventory that config_file names."""
    done = run_cli(["region", "add", "--config-file", str(config_file),
                    "--cloud-owner", owner, "--cloud-region-id", region,
                    "--cloud-type", cloud_type, "--cloud-region-version", version])
    if done.returncode != 0:
        raise RuntimeError(f"region add {owner}/{region} exited {done.returncode}:\n"
                           f"stdout: {done.stdout}\nstderr: {done.stderr}")


class BrokerStartError(RuntimeError):
    """The broker did not come up; the message carries its output."""


# The backends the server and contract suites run under (see
# server_backend_for_brokers); TEST_SERVER_BACKENDS narrows them for a
# local run, e.g. TEST_SERVER_BACKENDS=gevent.
SERVER_BACKENDS = tuple(name for name in os.environ.get(
    "TEST_SERVER_BACKENDS", "eventlet,gevent").split(",") if name)


def server_backend_for_brokers(request) -> Iterator[str]:
    """Body of the suites' autouse fixture: every broker the test starts
    serves with the fixture's backend (`--server-backend`)."""
    BrokerProcess.server_backend = request.param
    yield request.param
    BrokerProcess.server_backend = None


class BrokerProcess:
    """One `multicloud-broker serve` child process listening on 127.0.0.1."""

    server_backend: str | None = None  # None: the broker's default

    def __init__(self, workdir: Path, config: Config, web_framework: str | None = "django",
                 workers: int = 1, port: int | None = None,
                 env: Mapping[str, str] | None = None, name: str = "broker") -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.web_framework = web_framework
        self.workers = workers
        self.port = port or free_port()
        self.name = name
        self.config_file = write_config(self.workdir / f"{name}.conf", config)
        self.stdout_path = self.workdir / f"{name}.stdout"
        self.stderr_path = self.workdir / f"{name}.stderr"
        self._env = env
        self._proc: subprocess.Popen | None = None
        self._children: dict[int, bytes] = {}
        self.url = f"http://{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "broker not started"
        return self._proc.pid

    def command(self) -> list[str]:
        """The serve command; web_framework None leaves the choice to config or environment."""
        framework = ["--web-framework", self.web_framework] if self.web_framework else []
        backend = ["--server-backend", self.server_backend] if self.server_backend else []
        return [sys.executable, "-m", "multicloud_broker", "serve",
                "--config-file", str(self.config_file), *framework, *backend,
                "--bind-host", LOCALHOST, "--bind-port", str(self.port),
                "--workers", str(self.workers)]

    def start(self, timeout: float = 20.0) -> "BrokerProcess":
        """Start the broker and wait until its port accepts connections."""
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self._proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL,
                                          env=broker_env(self._env), cwd=str(self.workdir))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerStartError(
                    f"{self.name} ({self.web_framework}) exited with "
                    f"{self._proc.returncode} before listening\n{self.output()}")
            if accepts(self.port) and _answers_http(self.url, deadline) \
                    and listens_here(self._proc.pid, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerStartError(f"{self.name} ({self.web_framework}) did not listen on "
                               f"{self.port} within {timeout}s\n{self.output()}")

    def output(self) -> str:
        """What the broker wrote so far to stdout and stderr."""
        def tail(path: Path) -> str:
            try:
                return path.read_text(errors="replace")[-20000:]
            except FileNotFoundError:
                return ""
        return f"--- stdout ---\n{tail(self.stdout_path)}\n--- stderr ---\n{tail(self.stderr_path)}"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; also reap workers left behind."""
        self.terminate()
        return self.wait_stopped(timeout)

    def terminate(self) -> None:
        """Send SIGTERM (by PID) without waiting: lets a caller stop many brokers at once."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._children = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 10.0) -> int | None:
        """Wait for the exit after terminate(); SIGKILL after `timeout`. The exit status."""
        proc = self._proc
        if proc is None:
            return None
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        _kill_leftovers(self._children, timeout=5)
        return proc.returncode

    def __enter__(self) -> "BrokerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stderr_has(broker: "BrokerProcess", *needles: str, timeout: float = 5.0) -> bool:
    """Whether a line of the broker's stderr holds every needle, waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = broker.stderr_path.read_text(errors="replace")
        if any(all(n in line for n in needles) for line in text.splitlines()):
            return True
        time.sleep(0.05)
    return False


def listens_here(pid: int, port: int) -> bool:
    """Whether the socket listening on 127.0.0.1:port is process `pid`'s or
    its children's. A port from free_port() can be taken by another test's
    server before ours binds it: ours then exits, while the other answers."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    for owner in (pid, *_descendants(pid)):
        try:
            fds = os.listdir(f"/proc/{owner}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{owner}/fd/{fd}") in inodes:
                    return True
            except OSError:
                continue
    return False


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _answers_http(url: str, deadline: float) -> bool:
    """True once a worker answers HTTP at all (the bootstrap listens before workers run)."""
    from tests.support.client import request
    try:
        request(url, "GET", "/api/multicloud/v0/swagger.json",
                timeout=max(0.5, deadline - time.monotonic()))
        return True
    except (OSError, http.client.HTTPException):
        return False


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def child_pids(pid: int) -> set[int]:
    """The direct children of `pid` (zombies included), from /proc."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.update(map(int, (task / "children").read_text().split()))
        except OSError:
            continue
    return kids


def _descendants(pid: int) -> dict[int, bytes]:
    """PIDs (with their command lines) of every process below `pid`, from /proc."""
    found: dict[int, bytes] = {}
    pending = [pid]
    while pending:
        for kid in child_pids(pending.pop()):
            cmd = _cmdline(kid)
            if kid not in found and cmd is not None:
                found[kid] = cmd
                pending.append(kid)
    return found


def _kill_leftovers(children: dict[int, bytes], timeout: float) -> None:
    """SIGKILL workers that outlived their parent (same PID and command line only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = {pid: cmd for pid, cmd in children.items() if _cmdline(pid) == cmd}
        if not alive:
            return
        time.sleep(0.05)
    for pid, cmd in children.items():
        if _cmdline(pid) == cmd:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

"""What the local OpenStack services of the tests and `make run` (Keystone,
Glance) share: the venv they run from, built once per lock file and cached,
and the way a server of theirs is run as a child process of ours.

OpenStack's pins differ from the project's, so its services live in a venv
of their own, installed with hashes from requirements/keystone.txt.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

LOCALHOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[3]
LOCK_FILE = REPO_ROOT / "requirements" / "keystone.txt"
VENV_ENV = "MULTICLOUD_KEYSTONE_VENV"


# --------------------------------------------------------------------- cache

def cache_root() -> Path:
    """~/.cache/multicloud-broker (or under $XDG_CACHE_HOME when it is set)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "multicloud-broker"


def lock_digest() -> str:
    """A short hash of requirements/keystone.txt: a new lock gets a new venv."""
    if not LOCK_FILE.is_file():
        raise FileNotFoundError(f"{LOCK_FILE} is missing: the keystone venv is built from it")
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]


def venv_dir() -> Path:
    """Where the keystone venv is: $MULTICLOUD_KEYSTONE_VENV, else the cache."""
    override = os.environ.get(VENV_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return cache_root() / f"keystone-venv-{lock_digest()}"


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on lock_path: one builder among all processes."""
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(final: Path, build: Callable[[Path], None]) -> Path:
    """Make directory `final` with build(tmp) unless it exists.

    The build happens in a temporary sibling renamed into place at the end,
    so `final` existing means it is complete: a build killed halfway leaves
    only a temporary directory, which the next builder removes.
    """
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(final.with_name(final.name + ".lock")):
        if final.exists():  # another process built it while we waited
            return final
        for leftover in final.parent.glob(final.name + ".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
        try:
            build(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def child_env(**extra: str) -> dict[str, str]:
    """Our environment without what would mix our Python path into keystone's."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")}
    env.update(extra)
    return env


def run_step(command: Sequence[str | Path], what: str, timeout: float = 900) -> None:
    """Run a set-up command; its output only matters (and is shown) if it fails."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          env=child_env(), stdin=subprocess.DEVNULL, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def venv_python(venv: Path) -> Path:
    # Only bin/python is used, never the venv's console scripts: their
    # shebangs name the temporary directory the venv was built in.
    return venv / "bin" / "python"


def _build_venv(target: Path) -> None:
    run_step([sys.executable, "-m", "venv", target], "creating the keystone venv")
    run_step([venv_python(target), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          "--require-hashes", "--no-deps", "-r", LOCK_FILE], f"pip install -r {LOCK_FILE}")


def ensure_venv() -> Path:
    """The keystone venv, built from the lock file on first use (about a minute)."""
    return build_once(venv_dir(), _build_venv)


# ------------------------------------------------------------ child process

def die_with_parent() -> Callable[[], None]:
    """A preexec_fn asking Linux to SIGTERM the server when its parent dies.

    A test run killed hard then leaves no keystone behind. Linux sends it when
    the thread that started the server ends, so start it from a thread that
    outlives it (pytest's and the CLI's main thread do). Resolved before the
    fork, so the child only makes the one system call.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def has_exited(pid: int) -> bool:
    """Whether our child `pid` has exited, without reaping it.

    Until it is reaped its PID, which is also its process group's id, cannot
    be given to another process, so signalling the group stays safe.
    """
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True


def wait_exited(pid: int, timeout: float) -> bool:
    """Wait (without reaping) up to `timeout` s for our child `pid` to exit."""
    deadline = time.monotonic() + timeout
    while not has_exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0: any free port), for gunicorn.

    We bind it and hand it over (--bind fd://N) rather than pass a port
    number, so no other process can take the port between choice and use.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart on the same port
        sock.bind((LOCALHOST, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def spawn_gunicorn(venv: Path, app: str, workdir: Path, fd: int, env: dict[str, str],
                   extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """gunicorn serving `app` from the venv on the listening socket `fd`: one
    worker of 8 threads, the leader of a process group of its own, its
    output in workdir/server.out and its logs beside it."""
    command = [
        str(venv_python(venv)), "-m", "gunicorn", app,
        "--bind", f"fd://{fd}", "--chdir", str(workdir),
        "--worker-class", "gthread", "--workers", "1", "--threads", "8",
        # No heartbeat deadline: a paused worker (Keystone's pause()) or an
        # upload between two reads of a slow client must not be killed.
        "--timeout", "0", "--graceful-timeout", "5",
        # gunicorn 27 otherwise opens one control socket per user, in $HOME.
        "--no-control-socket",
        "--error-logfile", str(workdir / "gunicorn.log"),
        "--access-logfile", str(workdir / "access.log"),
        *extra,
    ]
    with open(workdir / "server.out", "ab") as out:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=workdir, pass_fds=(fd,), start_new_session=True,
            preexec_fn=die_with_parent(), env=child_env(**env))


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """`sig` to a server's process group. start_new_session made the master
    the leader of a group holding only itself and its worker: its PID is the
    group's id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def stop_server(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """`sig` to the master (after SIGCONT: a paused server cannot act on it),
    SIGKILL to its group after 10 s; wait until it is gone."""
    if not has_exited(proc.pid):
        signal_group(proc.pid, signal.SIGCONT)
        proc.send_signal(sig)
        if not wait_exited(proc.pid, timeout=10):
            signal_group(proc.pid, signal.SIGKILL)
            wait_exited(proc.pid, timeout=10)
    # The worker leaves with its master; this is for one that did not. Safe:
    # the master is not reaped yet, so no other process can have been given
    # its PID, which is the group's id.
    signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def log_tail(workdir: Path, names: Sequence[str]) -> str:
    """The last 3,000 characters of each of a server's logs that exists."""
    parts = []
    for name in names:
        path = workdir / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts)

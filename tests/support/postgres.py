"""A real PostgreSQL server for tests: initdb into a temporary directory, one
`postgres` process on 127.0.0.1 and a free port, for the whole session.

Debian's postgresql package provides the binaries; if they are missing and we
are root, the set-up installs them (apt-get), and skips with the reason only
if that fails. PostgreSQL refuses to run as root, so as root the cluster
belongs to `nobody` and the server runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pg8000.native as pg
import pytest

from tests.support.upstreams import LOCALHOST, free_port

ADMIN, ADMIN_PASSWORD = "pgadmin", "admin-pw-for-tests"
BROKER_USER, BROKER_PASSWORD = "broker", "broker-pw-never-logged"
RUN_AS = "nobody"


def _bin_dir() -> str | None:
    """The newest installed PostgreSQL's bin directory (Debian layout), or PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return str(Path(found[-1]).parent)
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


def _install() -> str | None:
    """apt-get install postgresql (root only); the reason it failed, or None."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "PostgreSQL is not installed and we cannot install it (not root / no apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr[-300:]}"
    return None


class PostgresServer:
    """One throw-away cluster; `database()` makes a fresh database for a test."""

    def __init__(self, bin_dir: str) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.host = LOCALHOST
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._proc: subprocess.Popen | None = None
        self._count = 0
        as_root = os.geteuid() == 0
        self._user = pwd.getpwnam(RUN_AS) if as_root else None

    def _run_kwargs(self) -> dict:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def start(self) -> "PostgresServer":
        pwfile = self.root / "pwfile"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if self._user is not None:
            os.chmod(self.root, 0o755)
            for path in (self.root, pwfile):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        done = subprocess.run(
            [f"{self.bin_dir}/initdb", "-D", str(self.data), "-U", ADMIN,
             f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
             "--no-sync", "--locale=C"],
            capture_output=True, text=True, timeout=120, cwd=self.root,
            **self._run_kwargs())
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}\n{done.stderr}")
        with open(self.log, "wb") as log:
            if self._user is not None:
                os.chown(self.log, self._user.pw_uid, self._user.pw_gid)
            self._proc = subprocess.Popen(
                [f"{self.bin_dir}/postgres", "-D", str(self.data), "-p", str(self.port),
                 "-c", f"listen_addresses={LOCALHOST}",
                 "-c", f"unix_socket_directories={self.root}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.root, **self._run_kwargs())
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin().close()
                break
            except (pg.InterfaceError, pg.DatabaseError, OSError):
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"postgres did not start:\n{self.log.read_text()}")
                time.sleep(0.1)
        conn = self.admin()
        conn.run(f"CREATE ROLE {BROKER_USER} LOGIN PASSWORD '{BROKER_PASSWORD}'")
        conn.close()
        return self

    def admin(self, database: str = "postgres") -> pg.Connection:
        """A superuser connection (the test's, for set-up, inspection and locks)."""
        return pg.Connection(ADMIN, host=self.host, port=self.port, database=database,
                             password=ADMIN_PASSWORD, timeout=30)

    def database(self, owner: str = BROKER_USER) -> str:
        """A new empty database owned by `owner`; its name."""
        self._count += 1
        name = f"inventory{self._count}"
        conn = self.admin()
        conn.run(f"CREATE DATABASE {name} OWNER {owner}")
        conn.close()
        return name

    def url(self, database: str, user: str = BROKER_USER) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL (installed first if it is missing and we may)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        reason = _install()
        bin_dir = _bin_dir()
        if bin_dir is None:
            pytest.skip(reason or "PostgreSQL binaries not found after installing")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()

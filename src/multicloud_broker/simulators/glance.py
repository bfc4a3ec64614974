"""The real OpenStack Glance (image service), run locally for tests.

Glance comes from the same hash-locked venv as Keystone
(requirements/keystone.txt; see simulators/keystone.py): the two share their
OpenStack libraries. A LocalGlance runs against a LocalKeystone: it creates
its service user there (keystonemiddleware validates every token with it)
and puts its URL in Keystone's catalog as the `image` service of a region.

The database is SQLite, the images are files in the work directory (the
`fs` store, plus the staging and tasks stores Glance reserves for imports).
`glance-manage db_sync` costs a Python start and the imports of all of
Glance's migrations (seconds, more on a busy machine), so its result is
cached once per venv as a template that each instance copies.

gunicorn serves `glance.wsgi.api:application` with threads in one worker
process on 127.0.0.1, on a socket we bind (port 0: any free port); logs go
to files in the work directory. `python -m multicloud_broker.simulators.glance
--prepare` builds the cached template ahead of a test run.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from multicloud_broker.simulators.keystone import LocalKeystone
from multicloud_broker.simulators.local_openstack import (
    LOCALHOST, build_once, cache_root, ensure_venv, has_exited, listen, lock_digest, log_tail,
    run_step, spawn_gunicorn, stop_server, venv_python)

# Bump when what the template holds, or how it is made, changes.
TEMPLATE_FORMAT = "1"
DB_FILE = "glance.db"
# Where images, imports being staged and import tasks' files go: the `fs`
# store, and the two file stores Glance reserves for its import workflow.
STORE_DIRS = {"fs": "images", "os_glance_staging_store": "staging",
              "os_glance_tasks_store": "tasks"}
# The catalog's name for the image service: the simulator registers the same,
# so a Keystone holding both has one image service with an endpoint per region.
SERVICE_NAME = "glance"
SERVICE_PROJECT = "service"
# keystonemiddleware validates tokens as this user: Keystone's policy lets a
# holder of the `service` role do that.
SERVICE_ROLE = "service"


def _conf_text(workdir: Path, venv: Path, keystone: LocalKeystone | None,
               service_password: str) -> str:
    """glance-api.conf: SQLite, file stores under workdir, Keystone's auth."""
    stores = "".join(f"[{section}]\nfilesystem_store_datadir = {workdir / directory}\n"
                     for section, directory in STORE_DIRS.items())
    return (
        "[DEFAULT]\n"
        f"log_file = {workdir / 'glance.log'}\n"
        "use_stderr = false\n"
        "enabled_backends = fs:file\n"
        "[database]\n"
        f"connection = sqlite:///{workdir / DB_FILE}\n"
        "[glance_store]\n"
        "default_backend = fs\n"
        f"{stores}"
        "[oslo_concurrency]\n"
        f"lock_path = {workdir / 'locks'}\n"
        "[paste_deploy]\n"
        # The venv ships the paste pipeline; `keystone` is its authtoken one.
        f"config_file = {venv / 'etc' / 'glance' / 'glance-api-paste.ini'}\n"
        "flavor = keystone\n"
        f"{_authtoken_section(keystone, service_password) if keystone else ''}"
    )


def _authtoken_section(keystone: LocalKeystone, password: str) -> str:
    """[keystone_authtoken]: how keystonemiddleware reaches Keystone."""
    ca = f"cafile = {keystone.ca_file}\n" if keystone.ca_file else ""
    return (
        "[keystone_authtoken]\n"
        f"www_authenticate_uri = {keystone.url}\n"
        f"auth_url = {keystone.url}\n"
        "auth_type = password\n"
        f"username = {SERVICE_NAME}\n"
        f"password = {password}\n"
        f"project_name = {SERVICE_PROJECT}\n"
        f"user_domain_name = {keystone.domain}\n"
        f"project_domain_name = {keystone.domain}\n"
        f"{ca}"
    )


def _build_template(target: Path, venv: Path) -> None:
    conf = target / "glance-api.conf"
    conf.write_text(_conf_text(target, venv, None, ""))
    code = "import sys; from glance.cmd.manage import main; sys.exit(main())"
    run_step([venv_python(venv), "-c", code, "--config-file", conf, "db_sync"], "glance-manage db_sync")
    conf.unlink()  # it names the temporary directory: useless once renamed


def ensure_template(venv: Path) -> Path:
    """The cached database made by `glance-manage db_sync` (once per venv)."""
    key = hashlib.sha256("\0".join((lock_digest(), str(venv), TEMPLATE_FORMAT)).encode()
                         ).hexdigest()[:16]
    return build_once(cache_root() / f"glance-template-{key}",
                       lambda tmp: _build_template(tmp, venv))


class LocalGlance:
    """One real Glance on 127.0.0.1, its state in `workdir`, authenticating
    with `keystone` and in its catalog as `region`'s image service.

    The work directory holds glance-api.conf, the SQLite database, the
    stores and the logs (glance.log, gunicorn.log, access.log, server.out).
    """

    def __init__(self, workdir: Path, keystone: LocalKeystone, region: str = "RegionOne",
                 port: int = 0, service_password: str = "glance-secret") -> None:
        self.workdir = Path(workdir).resolve()
        self.keystone = keystone
        self.region = region
        self.port = port
        self.service_password = service_password
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False

    def __repr__(self) -> str:
        return f"LocalGlance({self.url!r}, workdir={str(self.workdir)!r})"

    def __enter__(self) -> LocalGlance:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint as the catalog has it (clients append /v2)."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and not has_exited(self._proc.pid)

    # ----------------------------------------------------------- life cycle

    def start(self, timeout: float = 120) -> LocalGlance:
        """Start the server; return once it answers an authenticated image
        list, with its endpoint in the catalog."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> None:
        """Start the server process and return at once: Glance takes seconds
        to import and load, which a caller may spend starting other things
        before wait_ready()."""
        if self.is_running():
            raise RuntimeError(f"{self!r} is already running")
        venv = ensure_venv()
        template = ensure_template(venv)
        self.keystone.add_user(SERVICE_NAME, self.service_password, SERVICE_PROJECT,
                               role=SERVICE_ROLE)
        sock = listen(self.port)
        try:
            self.port = sock.getsockname()[1]
            self._prepare(venv, template)
            self._proc = self._spawn(venv, sock.fileno())
            self._ready = False
        finally:
            sock.close()  # gunicorn has its own copy now

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until the launched server answers, then put it in the catalog
        (so no client finds an endpoint that does not answer yet). At once
        when it already is; the server is stopped if it never gets there."""
        if self._ready:
            return
        try:
            self._wait_answering(timeout)
            self.keystone.add_service("image", SERVICE_NAME, self.url, region=self.region)
        except BaseException:
            self.stop()
            raise
        self._ready = True

    def stop(self) -> None:
        """SIGINT the server (gunicorn's quick shutdown: a graceful one waits
        seconds for clients' idle kept-alive connections, and a test Glance
        has nothing to finish), SIGKILL it after 10 s; wait until it is gone."""
        proc, self._proc = self._proc, None
        self._ready = False
        if proc is not None:
            stop_server(proc, signal.SIGINT)

    # ------------------------------------------------------------- internals

    def _prepare(self, venv: Path, template: Path) -> None:
        """Work directory (database from the template the first time) and config."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for directory in (*STORE_DIRS.values(), "locks"):
            (self.workdir / directory).mkdir(exist_ok=True)
        if not (self.workdir / DB_FILE).exists():
            shutil.copy2(template / DB_FILE, self.workdir / DB_FILE)
        (self.workdir / "glance-api.conf").write_text(
            _conf_text(self.workdir, venv, self.keystone, self.service_password))

    def _spawn(self, venv: Path, fd: int) -> subprocess.Popen[bytes]:
        return spawn_gunicorn(venv, "glance.wsgi.api:application", self.workdir, fd,
                              {"OS_GLANCE_CONFIG_DIR": str(self.workdir)})

    def _wait_answering(self, timeout: float) -> None:
        """Until the version document answers, then one authenticated list:
        a wrong service user or Keystone URL shows here, not in a test."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            if not self.is_running():
                raise RuntimeError(f"glance exited while starting:\n{self._log_tail()}")
            try:
                urllib.request.urlopen(f"{self.url}/versions", timeout=5).close()
                break
            except (urllib.error.URLError, OSError) as error:  # not listening yet
                last_error = error
            if time.monotonic() > deadline:
                raise TimeoutError(f"glance at {self.url} did not answer within {timeout} s "
                                   f"(last: {last_error}):\n{self._log_tail()}")
            time.sleep(0.1)
        answer = self.keystone.admin_session().get(f"{self.url}/v2/images", raise_exc=False)
        if answer.status_code != 200:
            raise RuntimeError(f"glance at {self.url} answered an authenticated image list "
                               f"with {answer.status_code}:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        return log_tail(self.workdir, ("server.out", "gunicorn.log", "glance.log"))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m multicloud_broker.simulators.glance --prepare`."""
    parser = argparse.ArgumentParser(
        prog="python -m multicloud_broker.simulators.glance",
        description="Prepare the real Glance of the tests (it runs against a LocalKeystone: "
                    "see LocalGlance).")
    parser.add_argument("--prepare", action="store_true", required=True,
                        help="build the cached venv and database template, then exit")
    parser.parse_args(argv)
    print(f"glance template ready: {ensure_template(ensure_venv())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The real OpenStack Keystone, run locally for tests and `make run`.

Keystone comes from PyPI, pinned with hashes in requirements/keystone.txt, and
lives in a venv of its own (OpenStack's pins differ from the project's). The
venv is built once per lock file and cached; so is a "template" holding what
`keystone-manage db_sync`, `fernet_setup`, `credential_setup` and `bootstrap`
produce (a SQLite database and the key repositories). Each instance copies the
template into its own work directory, gets fresh token keys, and points the
catalog's identity endpoints at its own port, so it answers in a few seconds.

gunicorn serves keystone's WSGI application with threads in one worker
process, on 127.0.0.1 only; everything the server logs goes to files in the
work directory.

    python -m multicloud_broker.simulators.keystone --workdir DIR --port N

starts one, prints the URL and the admin credentials on one line, and runs
until SIGTERM or SIGINT. `--prepare` only builds the cached venv and template
(for a CI step or an image, so tests do not pay for it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud_broker.simulators.local_openstack import (
    LOCALHOST, build_once, cache_root, ensure_venv, has_exited, listen, lock_digest, log_tail,
    run_step, signal_group, spawn_gunicorn, stop_server, venv_python)

if TYPE_CHECKING:  # keystoneauth1 is imported when a session is first asked for
    from keystoneauth1.session import Session


# Bump when what the template holds, or how it is made, changes: the template
# directory's name depends on it, so an old cached one is not reused.
TEMPLATE_FORMAT = "1"
# bootstrap needs an identity URL before any port is known; an instance
# replaces it with its own, and a catalog still naming it is plainly wrong.
PLACEHOLDER_URL = "http://keystone-template.invalid/v3"

DB_FILE = "keystone.db"
KEY_REPOSITORIES = {  # keystone.conf section -> directory
    "fernet_tokens": "fernet-keys",
    "fernet_receipts": "fernet-receipts",
    "credential": "credential-keys",
}
# keystone reads OS_KEYSTONE_CONFIG_DIR/keystone.conf; oslo.config parses
# sys.argv too, and under gunicorn that holds gunicorn's flags, which keystone
# would reject: the entry module empties it before keystone is imported.
WSGI_MODULE = "keystone_wsgi"
WSGI_SOURCE = '''"""gunicorn's entry: keystone, configured from OS_KEYSTONE_CONFIG_DIR."""
import sys

del sys.argv[1:]  # gunicorn's flags, which oslo.config would try to parse

from keystone.server.wsgi import initialize_public_application  # noqa: E402

application = initialize_public_application()
'''


# -------------------------------------------------------------- configuration

def _conf_text(root: Path, token_expiration: int, log_file: Path) -> str:
    """keystone.conf for a database and key repositories under root."""
    repositories = "".join(f"[{section}]\nkey_repository = {root / directory}\n"
                           for section, directory in KEY_REPOSITORIES.items())
    return (
        "[DEFAULT]\n"
        f"log_file = {log_file}\n"
        "use_stderr = false\n"
        "[database]\n"
        f"connection = sqlite:///{root / DB_FILE}\n"
        "[token]\n"
        "provider = fernet\n"
        f"expiration = {token_expiration}\n"
        f"{repositories}"
        "[identity]\n"
        # bcrypt's fewest rounds: a local instance checks passwords on every
        # token issue, and at the default (12) each costs a quarter second.
        "password_hash_algorithm = bcrypt\n"
        "password_hash_rounds = 4\n"
    )


def _keystone_manage(venv: Path, conf: Path, *args: str) -> None:
    code = "import sys; from keystone.cmd.manage import main; sys.exit(main())"
    run_step([venv_python(venv), "-c", code, "--config-file", conf, *args], f"keystone-manage {args[0]}")


def _owner_args() -> list[str]:
    """fernet_setup and credential_setup want to know who owns the keys."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return ["--keystone-user", user, "--keystone-group", group]


def _build_template(target: Path, venv: Path, admin_password: str) -> None:
    conf = target / "template.conf"
    conf.write_text(_conf_text(target, 3600, target / "keystone-manage.log"))
    _keystone_manage(venv, conf, "db_sync")
    _keystone_manage(venv, conf, "fernet_setup", *_owner_args())
    _keystone_manage(venv, conf, "credential_setup", *_owner_args())
    _keystone_manage(venv, conf, "bootstrap", f"--bootstrap-password={admin_password}",
                     "--bootstrap-region-id", "RegionOne",
                     "--bootstrap-public-url", PLACEHOLDER_URL,
                     "--bootstrap-internal-url", PLACEHOLDER_URL,
                     "--bootstrap-admin-url", PLACEHOLDER_URL)
    conf.unlink()  # it names the temporary directory: useless once renamed


def ensure_template(venv: Path, admin_password: str) -> Path:
    """The cached, bootstrapped database and key repositories (built once per
    keystone venv and admin password: bootstrap stores the password's hash)."""
    key = hashlib.sha256("\0".join(
        (lock_digest(), str(venv), TEMPLATE_FORMAT, admin_password)).encode()).hexdigest()[:16]
    final = cache_root() / f"keystone-template-{key}"
    return build_once(final, lambda tmp: _build_template(tmp, venv, admin_password))


def _fresh_fernet_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))


def _copy_template(template: Path, workdir: Path) -> None:
    """The template's database and keys into workdir, with token keys of its own.

    New token and receipt keys make each instance a cloud of its own: a token
    issued by one instance is refused by another, as it would be by another
    cloud. The credential keys are kept: they encrypt rows of the database.
    """
    shutil.copy2(template / DB_FILE, workdir / DB_FILE)
    for section, directory in KEY_REPOSITORIES.items():
        shutil.copytree(template / directory, workdir / directory, dirs_exist_ok=True)
        if section != "credential":
            for key_file in (workdir / directory).iterdir():
                key_file.write_bytes(_fresh_fernet_key())


def _point_identity_at(db: Path, url: str) -> None:
    """Make the catalog's identity endpoints name this instance's URL.

    Written into the database before the server starts, so no client ever
    sees a catalog naming another port (or the template's placeholder).
    """
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE endpoint SET url = ? WHERE service_id IN "
                     "(SELECT id FROM service WHERE type = 'identity')", (url,))


def _password_auth(user: str, password: str, project: str, domain: str) -> dict:
    return {"auth": {
        "identity": {"methods": ["password"], "password": {
            "user": {"name": user, "password": password, "domain": {"name": domain}}}},
        "scope": {"project": {"name": project, "domain": {"name": domain}}}}}


def _post_token(url: str, body: dict, timeout: float, ca_file: str | None = None) -> str:
    """POST /v3/auth/tokens; the token (X-Subject-Token). Raises on failure."""
    request = urllib.request.Request(f"{url}/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        return response.headers["X-Subject-Token"]


# ------------------------------------------------------------------ instance

class LocalKeystone:
    """One real Keystone on 127.0.0.1, its state in `workdir`.

    The work directory holds keystone.conf, the SQLite database, the key
    repositories and the logs (keystone.log, gunicorn.log, access.log and
    server.out for anything printed before logging is set up). A work
    directory used before is reused as it is: restarting keeps users,
    projects, the catalog, and the keys, so issued tokens stay valid.
    """

    region = "RegionOne"
    admin_user = "admin"
    admin_project = "admin"
    domain = "Default"

    def __init__(self, workdir: Path, port: int = 0, token_expiration: int = 3600,
                 admin_password: str = "admin-secret",
                 tls: tuple[str, str] | None = None) -> None:
        """`tls`: (certificate, key) PEM files to serve HTTPS with; clients
        here trust the certificate itself (a self-signed one, or a CA bundle
        that verifies it, first in the file)."""
        self.workdir = Path(workdir).resolve()
        self.port = port
        self.token_expiration = token_expiration
        self.admin_password = admin_password
        self.tls = tls
        self._proc: subprocess.Popen[bytes] | None = None
        self._session: Session | None = None

    def __repr__(self) -> str:
        return f"LocalKeystone({self.url!r}, workdir={str(self.workdir)!r})"

    def __enter__(self) -> LocalKeystone:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The auth URL for clients: http(s)://127.0.0.1:PORT/v3."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{LOCALHOST}:{self.port}/v3"

    @property
    def ca_file(self) -> str | None:
        """What verifies this instance's certificate (None over plain HTTP)."""
        return self.tls[0] if self.tls else None

    @property
    def pid(self) -> int | None:
        """The gunicorn master's PID (its process group holds the worker)."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Whether the server process is alive (paused counts as alive)."""
        return self._proc is not None and not has_exited(self._proc.pid)

    # ----------------------------------------------------------- life cycle

    def start(self, timeout: float = 120) -> LocalKeystone:
        """Start the server; return once POST /v3/auth/tokens answers 201.

        The first start on a machine builds the cached venv and template
        first (about a minute); `timeout` covers only the server.
        """
        if self.is_running():
            raise RuntimeError(f"{self!r} is already running")
        venv = ensure_venv()
        template = ensure_template(venv, self.admin_password)
        sock = listen(self.port)
        try:
            self.port = sock.getsockname()[1]
            self._prepare(template)
            self._proc = self._spawn(venv, sock.fileno())
        finally:
            sock.close()  # gunicorn has its own copy now
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it after 10 s, and wait until it is gone."""
        if self._session is not None:
            self._session.session.close()  # pooled connections to the old process
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_server(proc, signal.SIGTERM)

    def pause(self) -> None:
        """SIGSTOP the server's processes: connections are accepted, nothing answers."""
        signal_group(self._require_pid(), signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the server's processes: requests waiting meanwhile are answered."""
        signal_group(self._require_pid(), signal.SIGCONT)

    def restart(self, timeout: float = 120) -> None:
        """Stop and start again on the same port with the same database and keys."""
        self.stop()
        self.start(timeout)

    # ------------------------------------------------------- admin helpers

    def admin_session(self) -> Session:
        """A keystoneauth1 session authenticated as the admin, project-scoped.

        It re-authenticates by itself when its token expires.
        """
        if self._session is None:
            from keystoneauth1 import session
            from keystoneauth1.identity import v3
            auth = v3.Password(auth_url=self.url, username=self.admin_user,
                               password=self.admin_password,
                               project_name=self.admin_project,
                               user_domain_name=self.domain,
                               project_domain_name=self.domain)
            self._session = session.Session(auth=auth, verify=self.ca_file or True)
        return self._session

    def add_project(self, name: str) -> str:
        """The id of project `name` in the Default domain, created if missing."""
        found = self._find("projects", name=name, domain_id=self._domain_id())
        if found:
            return found[0]["id"]
        return self._create("projects", "project", {"name": name, "domain_id": self._domain_id()},
                            lambda: self._find("projects", name=name,
                                               domain_id=self._domain_id()))

    def add_user(self, name: str, password: str, project: str, role: str = "member") -> str:
        """The id of user `name`, created (or given this password) and granted
        `role` on project `project` (created if missing)."""
        project_id = self.add_project(project)
        user_id = self._ensure_user(name, password, project_id)
        role_id = self._ensure_role(role)
        self._api("PUT", f"/projects/{project_id}/users/{user_id}/roles/{role_id}")
        return user_id

    def add_service(self, service_type: str, name: str, url: str, region: str = "RegionOne",
                    interfaces: Sequence[str] = ("public", "internal", "admin")) -> None:
        """Put service `name` of `service_type` in the catalog, with an endpoint
        at `url` for each interface in `region` (updated if it moved)."""
        service_id = self._ensure_service(service_type, name)
        self._ensure_region(region)
        for interface in interfaces:
            self._ensure_endpoint(service_id, interface, region, url)

    def issue_token(self, user: str, password: str, project: str) -> str:
        """A project-scoped token for user (password authentication)."""
        return _post_token(self.url, _password_auth(user, password, project, self.domain),
                           timeout=30, ca_file=self.ca_file)

    def revoke(self, token: str) -> None:
        """Revoke a token (DELETE /v3/auth/tokens, as the admin)."""
        self._api("DELETE", "/auth/tokens", headers={"X-Subject-Token": token})

    # ------------------------------------------------------------- internals

    def _prepare(self, template: Path) -> None:
        """Work directory, first time from the template; config for this start."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not (self.workdir / DB_FILE).exists():
            _copy_template(template, self.workdir)
        (self.workdir / "keystone.conf").write_text(
            _conf_text(self.workdir, self.token_expiration, self.workdir / "keystone.log"))
        (self.workdir / f"{WSGI_MODULE}.py").write_text(WSGI_SOURCE)
        _point_identity_at(self.workdir / DB_FILE, self.url)

    def _spawn(self, venv: Path, fd: int) -> subprocess.Popen[bytes]:
        tls = ("--certfile", self.tls[0], "--keyfile", self.tls[1]) if self.tls else ()
        return spawn_gunicorn(venv, f"{WSGI_MODULE}:application", self.workdir, fd,
                              {"OS_KEYSTONE_CONFIG_DIR": str(self.workdir)}, tls)

    def _wait_ready(self, timeout: float) -> None:
        body = _password_auth(self.admin_user, self.admin_password, self.admin_project,
                              self.domain)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(f"keystone exited while starting:\n{self._log_tail()}")
            try:
                _post_token(self.url, body, timeout=5, ca_file=self.ca_file)
                return
            except urllib.error.HTTPError as error:
                if error.code == 401:  # a reused workdir made with another password
                    raise RuntimeError(f"keystone at {self.url} refuses the admin password; "
                                       f"{self.workdir} was set up with another one") from None
                last_error = error
            except OSError as error:  # not listening yet (URLError is an OSError)
                last_error = error
            time.sleep(0.1)
        raise TimeoutError(f"keystone at {self.url} did not issue a token within {timeout} s "
                           f"(last: {last_error}):\n{self._log_tail()}")

    def _log_tail(self) -> str:
        return log_tail(self.workdir, ("server.out", "gunicorn.log", "keystone.log"))

    def _require_pid(self) -> int:
        if not self.is_running():
            raise RuntimeError(f"{self!r} is not running")
        assert self._proc is not None
        return self._proc.pid

    def _api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """An admin request to the identity API; the JSON answer ({} if none)."""
        response = self.admin_session().request(self.url + path, method, **kwargs)
        return response.json() if response.content else {}

    def _find(self, collection: str, **query: str) -> list[dict]:
        return self._api("GET", f"/{collection}", params=query)[collection]

    def _create(self, collection: str, member: str, body: dict,
                find_again: Callable[[], list[dict]]) -> str:
        """POST a new member; if another client created it first (409), its id."""
        from keystoneauth1 import exceptions
        try:
            return self._api("POST", f"/{collection}", json={member: body})[member]["id"]
        except exceptions.Conflict:
            return find_again()[0]["id"]

    def _domain_id(self) -> str:
        return "default"  # bootstrap's domain: id "default", name "Default"

    def _ensure_user(self, name: str, password: str, project_id: str) -> str:
        found = self._find("users", name=name, domain_id=self._domain_id())
        if found:
            user_id = found[0]["id"]
            self._api("PATCH", f"/users/{user_id}", json={"user": {"password": password}})
            return user_id
        body = {"name": name, "password": password, "domain_id": self._domain_id(),
                "default_project_id": project_id, "enabled": True}
        return self._create("users", "user", body,
                            lambda: self._find("users", name=name, domain_id=self._domain_id()))

    def _ensure_role(self, name: str) -> str:
        found = self._find("roles", name=name)
        if found:
            return found[0]["id"]
        return self._create("roles", "role", {"name": name},
                            lambda: self._find("roles", name=name))

    def _ensure_service(self, service_type: str, name: str) -> str:
        def same() -> list[dict]:
            return [s for s in self._find("services", type=service_type) if s.get("name") == name]
        found = same()
        if found:
            return found[0]["id"]
        return self._create("services", "service",
                            {"type": service_type, "name": name, "enabled": True}, same)

    def _ensure_region(self, region: str) -> None:
        response = self.admin_session().get(f"{self.url}/regions/{region}", raise_exc=False)
        if response.status_code == 404:
            self._create("regions", "region", {"id": region}, lambda: [{"id": region}])

    def _ensure_endpoint(self, service_id: str, interface: str, region: str, url: str) -> None:
        found = self._find("endpoints", service_id=service_id, interface=interface,
                           region_id=region)
        if not found:
            self._api("POST", "/endpoints", json={"endpoint": {
                "service_id": service_id, "interface": interface, "region_id": region,
                "url": url, "enabled": True}})
        elif found[0]["url"] != url:
            self._api("PATCH", f"/endpoints/{found[0]['id']}", json={"endpoint": {"url": url}})


# ----------------------------------------------------------------------- CLI

def _credentials_line(keystone: LocalKeystone) -> str:
    """The URL and admin credentials as OS_* variables, on one line."""
    return " ".join([
        f"OS_AUTH_URL={keystone.url}", f"OS_USERNAME={keystone.admin_user}",
        f"OS_PASSWORD={keystone.admin_password}", f"OS_PROJECT_NAME={keystone.admin_project}",
        f"OS_USER_DOMAIN_NAME={keystone.domain}", f"OS_PROJECT_DOMAIN_NAME={keystone.domain}",
        f"OS_REGION_NAME={keystone.region}", "OS_IDENTITY_API_VERSION=3"])


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m multicloud_broker.simulators.keystone",
        description="Run the real OpenStack Keystone on 127.0.0.1 until SIGTERM/SIGINT.")
    parser.add_argument("--workdir", type=Path, help="state and logs (reused if it exists)")
    parser.add_argument("--port", type=int, default=5000, help="0: any free port")
    parser.add_argument("--token-expiration", type=int, default=3600, help="seconds")
    parser.add_argument("--admin-password", default="admin-secret")
    parser.add_argument("--prepare", action="store_true",
                        help="only build the cached venv and template, then exit")
    args = parser.parse_args(argv)
    if not args.prepare and args.workdir is None:
        parser.error("--workdir is required (unless --prepare)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m multicloud_broker.simulators.keystone`."""
    from multicloud_broker import warnings_log
    from multicloud_broker.logs import setup_plain_logging
    warnings_log.install()  # warnings as log lines here too
    setup_plain_logging()
    args = _parse_args(argv)
    if args.prepare:
        print(f"keystone template ready: {ensure_template(ensure_venv(), args.admin_password)}")
        return 0
    stop_requested = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_requested.set())
    keystone = LocalKeystone(args.workdir, port=args.port, token_expiration=args.token_expiration,
                             admin_password=args.admin_password)
    keystone.start()
    try:
        print(_credentials_line(keystone), flush=True)
        while not stop_requested.wait(1.0):
            if not keystone.is_running():
                print(f"keystone exited; see {keystone.workdir}", file=sys.stderr)
                return 1
        return 0
    finally:
        keystone.stop()


if __name__ == "__main__":
    sys.exit(main())

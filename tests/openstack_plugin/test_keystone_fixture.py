"""The local Keystone (multicloud_broker.simulators.keystone) behaves as the
real one a client meets: tokens, catalog, revocation, expiry, a server that
hangs or restarts, OpenStack's own CLI, and the cached build it starts from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

from multicloud_broker.simulators.keystone import LocalKeystone
from tests.support.keystone import (MakeKeystone,  # noqa: F401 (a fixture)
                                    make_keystone_fixture, token_status)


@pytest.fixture(scope="module", name="keystone")
def own_keystone(tmp_path_factory: pytest.TempPathFactory):
    """A Keystone of this module's own: its tests add services at dead ports to
    the catalog, which must not reach the chain tests' shared Keystone."""
    instance = LocalKeystone(tmp_path_factory.mktemp("keystone-own"))
    try:
        yield instance.start()
    finally:
        instance.stop()

# The first test to use a Keystone on a fresh machine also builds the cached
# venv and template (about a minute, longer on a busy machine).
pytestmark = pytest.mark.timeout(600)

OPENSTACK = Path(sys.executable).parent / "openstack"


def _get(url: str, timeout: float, token: str | None = None) -> int:
    """GET url with urllib (no retries, no pooling); the status."""
    headers = {"X-Auth-Token": token} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _user_session(instance: LocalKeystone, user: str, password: str,
                  project: str) -> ksa_session.Session:
    auth = v3.Password(auth_url=instance.url, username=user, password=password,
                       project_name=project, user_domain_name="Default",
                       project_domain_name="Default")
    return ksa_session.Session(auth=auth)


def _without_os_env() -> dict[str, str]:
    """Our environment minus OS_* (a developer's cloud must not leak in)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OS_")}


def test_a_user_token_carries_the_services_added_to_the_catalog(keystone: LocalKeystone) -> None:
    keystone.add_user("alice", "alice-pw", "tenant-a")
    keystone.add_service("compute", "nova", "http://127.0.0.1:18774/v2.1")
    keystone.add_service("image", "glance", "http://127.0.0.1:19292", interfaces=("public",))

    alice = _user_session(keystone, "alice", "alice-pw", "tenant-a")
    assert alice.get_endpoint(service_type="compute", interface="public",
                              region_name="RegionOne") == "http://127.0.0.1:18774/v2.1"
    assert alice.get_endpoint(service_type="compute",
                              interface="internal") == "http://127.0.0.1:18774/v2.1"
    assert alice.get_endpoint(service_type="image", interface="public") == "http://127.0.0.1:19292"
    # The identity endpoint names this instance's own port, not the template's.
    assert alice.get_endpoint(service_type="identity", interface="public") == keystone.url

    token = keystone.issue_token("alice", "alice-pw", "tenant-a")
    body = keystone.admin_session().get(f"{keystone.url}/auth/tokens",
                                        headers={"X-Subject-Token": token}).json()["token"]
    assert body["user"]["name"] == "alice"
    assert body["project"]["name"] == "tenant-a"
    assert "member" in {role["name"] for role in body["roles"]}
    assert {"compute", "image", "identity"} <= {entry["type"] for entry in body["catalog"]}


def test_adding_twice_changes_nothing(keystone: LocalKeystone) -> None:
    first = keystone.add_project("twice")
    assert keystone.add_project("twice") == first
    user = keystone.add_user("bob", "bob-pw", "twice")
    assert keystone.add_user("bob", "bob-pw-2", "twice") == user
    keystone.add_service("volumev3", "cinder", "http://127.0.0.1:18776/v3")
    keystone.add_service("volumev3", "cinder", "http://127.0.0.1:18777/v3")  # moved
    admin = keystone.admin_session()
    services = admin.get(f"{keystone.url}/services?type=volumev3").json()["services"]
    assert [service["name"] for service in services] == ["cinder"]
    endpoints = admin.get(f"{keystone.url}/endpoints?service_id={services[0]['id']}").json()
    assert sorted(e["interface"] for e in endpoints["endpoints"]) == ["admin", "internal", "public"]
    assert {e["url"] for e in endpoints["endpoints"]} == {"http://127.0.0.1:18777/v3"}
    keystone.issue_token("bob", "bob-pw-2", "twice")  # the newest password counts


def test_a_revoked_token_is_refused(keystone: LocalKeystone) -> None:
    keystone.add_user("carol", "carol-pw", "tenant-c")
    token = keystone.issue_token("carol", "carol-pw", "tenant-c")
    assert token_status(keystone, token) == 200
    assert _get(f"{keystone.url}/auth/projects", timeout=10, token=token) == 200

    keystone.revoke(token)

    assert token_status(keystone, token) == 404
    assert _get(f"{keystone.url}/auth/projects", timeout=10, token=token) == 401


def test_a_token_is_refused_once_it_expires(make_keystone: MakeKeystone) -> None:
    short = make_keystone(token_expiration=5)
    short.add_user("dave", "dave-pw", "tenant-d")
    token = short.issue_token("dave", "dave-pw", "tenant-d")
    body = short.admin_session().get(f"{short.url}/auth/tokens",
                                     headers={"X-Subject-Token": token}).json()["token"]
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    issued = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert (expires - issued).total_seconds() == pytest.approx(5, abs=1)

    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1.5)

    assert token_status(short, token) == 404
    assert _get(f"{short.url}/auth/projects", timeout=10, token=token) == 401
    # Re-authenticating is what a client does next, and it works.
    assert token_status(short, short.issue_token("dave", "dave-pw", "tenant-d")) == 200


def test_a_paused_keystone_hangs_and_answers_again_when_resumed(keystone: LocalKeystone) -> None:
    keystone.pause()
    try:
        started = time.monotonic()
        with pytest.raises((TimeoutError, urllib.error.URLError)):  # read times out
            _get(keystone.url, timeout=1.5)
        assert time.monotonic() - started >= 1.4  # it hung; it did not refuse
    finally:
        keystone.resume()
    assert _get(keystone.url, timeout=10) == 200
    keystone.issue_token("admin", keystone.admin_password, "admin")


def test_a_restart_keeps_the_port_and_issued_tokens_valid(keystone: LocalKeystone) -> None:
    keystone.add_user("erin", "erin-pw", "tenant-e")
    token = keystone.issue_token("erin", "erin-pw", "tenant-e")
    url, old_pid = keystone.url, keystone.pid

    keystone.restart()

    assert keystone.url == url
    assert keystone.pid != old_pid
    assert token_status(keystone, token) == 200
    assert _get(f"{keystone.url}/auth/projects", timeout=10, token=token) == 200


def test_openstack_client_lists_the_projects(keystone: LocalKeystone) -> None:
    keystone.add_project("listed-by-the-cli")
    done = subprocess.run(
        [str(OPENSTACK), "--os-auth-url", keystone.url, "--os-identity-api-version", "3",
         "--os-username", "admin", "--os-password", keystone.admin_password,
         "--os-project-name", "admin", "--os-user-domain-name", "Default",
         "--os-project-domain-name", "Default", "--os-region-name", "RegionOne",
         "project", "list", "-f", "value", "-c", "Name"],
        capture_output=True, text=True, timeout=120, env=_without_os_env())
    assert done.returncode == 0, done.stderr
    assert {"admin", "listed-by-the-cli"} <= set(done.stdout.split())


def test_the_command_line_runs_keystone_until_sigterm(tmp_path: Path) -> None:
    """`make run`'s way: the module prints OS_* settings that openstack uses."""
    command = [sys.executable, "-m", "multicloud_broker.simulators.keystone",
               "--workdir", str(tmp_path / "ks"), "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            line = proc.stdout.readline()  # the server is ready when it is printed
            assert line, proc.stderr.read()  # it exited: why
            settings = dict(part.split("=", 1) for part in line.split())
            env = {**_without_os_env(), **settings}
            for args in (["project", "create", "from-the-cli"], ["project", "list"]):
                done = subprocess.run([str(OPENSTACK), *args, "-f", "value", "-c", "Name"],
                                      capture_output=True, text=True, timeout=120, env=env)
                assert done.returncode == 0, done.stderr
            assert {"admin", "from-the-cli"} <= set(done.stdout.split())
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, proc.stderr.read()
    assert settings["OS_AUTH_URL"].startswith("http://127.0.0.1:")
    with pytest.raises(urllib.error.URLError):  # the server went with it
        _get(settings["OS_AUTH_URL"], timeout=5)
    assert (tmp_path / "ks" / "keystone.log").stat().st_size > 0  # logs to its workdir


# ---------------------------------------------------------------- the cache

BUILDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from multicloud_broker.simulators.local_openstack import build_once

    final, seconds = Path(sys.argv[1]), float(sys.argv[2])

    def build(tmp: Path) -> None:
        with open(final.parent / "builds.log", "a") as log:
            log.write(f"{tmp.name}\\n")
        (tmp / "half").write_text("")
        time.sleep(seconds)
        (tmp / "complete").write_text("")

    print(sorted(p.name for p in build_once(final, build).iterdir()), flush=True)
""")


def _builder(final: Path, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", BUILDER, str(final), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_four_processes_at_once_build_the_cache_once(tmp_path: Path) -> None:
    final = tmp_path / "venv"
    builders = [_builder(final, 0.5) for _ in range(4)]
    outputs = [proc.communicate(timeout=60) for proc in builders]
    assert [proc.returncode for proc in builders] == [0] * 4, outputs
    assert [out for out, _ in outputs] == ["['complete', 'half']\n"] * 4
    assert len((tmp_path / "builds.log").read_text().split()) == 1


def test_a_build_killed_halfway_is_never_used(tmp_path: Path) -> None:
    final = tmp_path / "venv"
    killed = _builder(final, 60)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("venv.tmp-*/half")):
        assert time.monotonic() < deadline and killed.poll() is None, killed.stderr
        time.sleep(0.05)
    killed.kill()
    killed.communicate(timeout=10)
    assert not final.exists()

    again = _builder(final, 0)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert out == "['complete', 'half']\n"
    assert not list(tmp_path.glob("venv.tmp-*"))  # the half-built one was removed

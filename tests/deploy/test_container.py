"""The container image's parts, as far as this machine can run them (no engine
can start containers here): deploy/run.sh configured the way the Kubernetes
manifests configure it (WORKERS from the CPU limit, a directory of config
files), deploy/healthcheck.py against real brokers over HTTP and HTTPS, and
a static reading of deploy/Dockerfile."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.helpers import (FAST_PATH, DefaultWorkersBroker, self_signed, wait_until,
                                  worker_pids)
from tests.support.broker import REPO_ROOT, broker_env, write_config
from tests.support.client import request
from tests.support.upstreams import AAIServer, ClosedPort, PluginServer

DEPLOY = REPO_ROOT / "deploy"
RUN_SH = DEPLOY / "run.sh"
HEALTHCHECK = DEPLOY / "healthcheck.py"
FAST = "/api/multicloud/v0/proc_RegionOne/fast"


class EntryPointBroker(DefaultWorkersBroker):
    """`sh deploy/run.sh` with only the address on its command line: the worker
    count and the config files come from the environment, as in the pod."""

    def command(self) -> list[str]:
        return ["sh", str(RUN_SH), "--bind-host", "127.0.0.1", "--bind-port", str(self.port)]


@pytest.fixture(scope="module")
def plugin():
    with PluginServer() as server:
        server.respond(FAST_PATH, json_body={"fast": True})
        yield server


@pytest.fixture(scope="module")
def aai():
    with AAIServer() as server:
        server.add_region("proc", "RegionOne", "openstack", "ocata")
        yield server


@pytest.fixture(scope="module")
def closed():
    with ClosedPort() as port:
        yield port


def pod_env(tmp_path: Path, aai: AAIServer, closed: ClosedPort, **extra: str) -> dict[str, str]:
    """The pod's environment: ONAP variables (MSB a dead end), console script on PATH."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "MULTICLOUD_BROKER_CONFIG": str(tmp_path / "absent.conf"),
            "AAI_PROTOCOL": "http", "AAI_ADDR": "127.0.0.1", "AAI_PORT": str(aai.port),
            "MSB_PROTO": "http", "MSB_ADDR": "127.0.0.1", "MSB_PORT": str(closed.port),
            **extra}


def config_dir(tmp_path: Path, plugin: PluginServer, closed: ClosedPort) -> Path:
    """A ConfigMap-like directory: the later file names the live plugin."""
    directory = tmp_path / "conf.d"
    directory.mkdir()
    write_config(directory / "00-base.conf", {
        "DEFAULT": {"graceful_shutdown_timeout": 5},
        "plugins": {"endpoints": {"multicloud-ocata": closed.url}}})
    write_config(directory / "50-overlay.conf", {
        "plugins": {"endpoints": {"multicloud-ocata": plugin.url}}})
    (directory / "README").write_text("not a .conf file: ignored\n")
    return directory


def healthcheck(port: int, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HEALTHCHECK)], capture_output=True, text=True,
                          timeout=30, env=broker_env({"HEALTHCHECK_PORT": str(port), **env}))


def test_run_sh_takes_workers_and_a_config_directory_from_the_environment(
        tmp_path: Path, plugin: PluginServer, aai: AAIServer, closed: ClosedPort) -> None:
    env = pod_env(tmp_path, aai, closed, WORKERS="3",
                  MULTICLOUD_BROKER_CONFIG_DIR=str(config_dir(tmp_path, plugin, closed)))
    broker = EntryPointBroker(tmp_path, {}, web_framework=None, workers=None, env=env).start()
    try:
        assert len(wait_until(lambda: len(worker_pids(broker.pid)) == 3
                              and worker_pids(broker.pid))) == 3
        reply = request(broker.url, "GET", FAST)  # reached only if 50-overlay.conf won
        assert (reply.status, reply.json()) == (200, {"fast": True}), reply
        # The container's health check, on the scheme the broker serves.
        assert healthcheck(broker.port).returncode == 0
        wrong = healthcheck(broker.port, SSL_ENABLED="true")
        assert wrong.returncode == 1 and "https://127.0.0.1" in wrong.stderr
    finally:
        assert broker.stop() == 0, broker.output()


@pytest.mark.parametrize("flag", ["true", "On"])
def test_healthcheck_uses_https_when_ssl_is_enabled(tmp_path: Path, plugin: PluginServer,
                                                    aai: AAIServer, closed: ClosedPort,
                                                    flag: str) -> None:
    cert, key = self_signed(tmp_path)
    env = pod_env(tmp_path, aai, closed, WORKERS="1", SSL_ENABLED=flag,
                  SSL_CERT_FILE=cert, SSL_KEY_FILE=key)
    broker = EntryPointBroker(tmp_path, {}, web_framework=None, workers=None, env=env,
                              https=True).start()
    try:
        assert healthcheck(broker.port, SSL_ENABLED=flag).returncode == 0
        assert healthcheck(broker.port, SSL_ENABLED="false").returncode == 1
    finally:
        broker.stop()


def test_healthcheck_fails_when_nothing_listens(closed: ClosedPort) -> None:
    done = healthcheck(closed.port)
    assert done.returncode == 1 and f"http://127.0.0.1:{closed.port}/healthz" in done.stderr


# -- the Dockerfile, read ---------------------------------------------------------

def _stages(text: str) -> list[list[str]]:
    """Instructions (continuation lines joined) grouped by FROM."""
    joined = re.sub(r"\\\n\s*", " ", re.sub(r"(?m)^\s*#.*\n", "", text))
    stages: list[list[str]] = []
    for line in filter(None, (raw.strip() for raw in joined.splitlines())):
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_builds_in_stages_and_runs_unprivileged() -> None:
    stages = _stages((DEPLOY / "Dockerfile").read_text())
    assert len(stages) >= 2
    final = stages[-1]
    assert any(i.startswith("COPY --from=") for i in final)
    assert not any("pip install" in i for i in final), "build tools in the runtime image"
    users = [i.split()[1] for i in final if i.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert users[-1].split(":")[0].isdigit()  # numeric: runAsNonRoot can check it
    assert 'ENTRYPOINT ["multicloud-broker-run"]' in final
    assert any(i.startswith("COPY deploy/run.sh /usr/local/bin/multicloud-broker-run")
               for i in final)


def test_dockerfile_health_check_and_writable_paths() -> None:
    final = _stages((DEPLOY / "Dockerfile").read_text())[-1]
    (check,) = [i for i in final if i.startswith("HEALTHCHECK ")]
    assert "multicloud-broker-healthcheck" in check
    assert any(i.startswith(f"COPY deploy/healthcheck.py /usr/local/bin/"
                            "multicloud-broker-healthcheck") for i in final)
    script = HEALTHCHECK.read_text()
    assert "/healthz" in script and "SSL_ENABLED" in script
    # What run.sh writes at start (mktemp) must be a volume, not the image.
    (volume,) = [i for i in final if i.startswith("VOLUME ")]
    for path in re.findall(r"mktemp (/[\w/]+)/", RUN_SH.read_text()):
        assert f'"{path}"' in volume

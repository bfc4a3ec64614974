"""deploy/run.sh, the container entry point, run as a container would run it:
configured by ONAP's variables alone, exec'ing the broker so signals reach it."""

from __future__ import annotations

import os
import ssl
import sys
from pathlib import Path

import pytest

from tests.server.helpers import (FAST_PATH, DefaultWorkersBroker, https_get, self_signed,
                                  wait_until, worker_pids)
from tests.support.broker import REPO_ROOT
from tests.support.client import request
from tests.support.upstreams import AAIServer

RUN_SH = REPO_ROOT / "deploy" / "run.sh"
FAST = "/api/multicloud/v0/proc_RegionOne/fast"


class RunShBroker(DefaultWorkersBroker):
    """`sh deploy/run.sh --bind-port P --workers 2`, the rest from the environment."""

    def command(self) -> list[str]:
        backend = ["--server-backend", self.server_backend] if self.server_backend else []
        return ["sh", str(RUN_SH), "--bind-host", "127.0.0.1", "--bind-port", str(self.port),
                "--workers", "2", *backend]


@pytest.fixture(scope="module")
def aai():
    with AAIServer() as server:
        server.add_region("proc", "RegionOne", "openstack", "ocata")
        yield server


def onap_env(tmp_path: Path, aai: AAIServer, plugin, **extra: str) -> dict[str, str]:
    """What an ONAP deployment sets, with the broker's console script on PATH."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "MULTICLOUD_BROKER_CONFIG": str(tmp_path / "absent.conf"),
            "LOG_DIR": str(tmp_path / "logs"),
            "AAI_PROTOCOL": "http", "AAI_ADDR": "127.0.0.1", "AAI_PORT": str(aai.port),
            "AAI_USERNAME": "onap-user", "AAI_PASSWORD": "onap-secret",
            "MSB_PROTO": "http", "MSB_ADDR": "127.0.0.1", "MSB_PORT": str(plugin.port),
            **extra}


@pytest.mark.parametrize("framework", ["pecan", None], ids=["pecan", "default"])
def test_run_sh_serves_from_onap_variables_and_drains_on_sigterm(tmp_path, aai, plugin,
                                                                  framework):
    extra = {"WEB_FRAMEWORK": framework} if framework else {}
    broker = RunShBroker(tmp_path, {}, web_framework=None,
                         env=onap_env(tmp_path, aai, plugin, **extra)).start()
    try:
        reply = request(broker.url, "GET", FAST)
        assert reply.status == 200 and reply.json() == {"fast": True}, reply
        assert plugin.requests_to(FAST_PATH)  # reached through the MSB gateway
        lookup = aai.requests[-1]
        assert AAIServer.basic_auth(lookup) == ("onap-user", "onap-secret")
        expected = f"{framework or 'django'} framework on http://127.0.0.1:{broker.port}"
        assert expected in broker.output()
        # exec: the script's PID is the bootstrap process, parent of the workers.
        wait_until(lambda: len(worker_pids(broker.pid)) == 2)
        access_log = tmp_path / "logs" / "access.log"
        # Lines reach the file when the worker's log writer flushes: wait for ours.
        wait_until(lambda: access_log.exists() and f"GET {FAST} 200" in access_log.read_text())
        workers = worker_pids(broker.pid)
    finally:
        status = broker.stop()
    assert status == 0, broker.output()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_run_sh_serves_https_when_ssl_enabled(tmp_path, aai, plugin):
    cert, key = self_signed(tmp_path)
    env = onap_env(tmp_path, aai, plugin, SSL_ENABLED="true",
                   SSL_CERT_FILE=cert, SSL_KEY_FILE=key)
    broker = RunShBroker(tmp_path, {}, web_framework=None, env=env, https=True).start()
    try:
        status, body = https_get(broker.port, FAST, ssl.create_default_context(cafile=cert))
        assert (status, body) == (200, b'{"fast": true}')
    finally:
        broker.stop()

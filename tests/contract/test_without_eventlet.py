"""The core, the inventory, the forwarder and the capacity fan-out under
another WSGI server, on real threads, with no eventlet anywhere (issue 13,
item 3): `multicloud_broker.wsgi:application` behind the standard library's
threaded server, in a fresh interpreter that never imports eventlet (or
gevent). Both frameworks, a real sqlite inventory and a real plugin server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import regions
from tests.support.broker import broker_env, write_config
from tests.support.regions import OCATA, PIKE
from tests.support.upstreams import PluginServer

SCRIPT = r"""
import http.client, json, sys, threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from multicloud_broker.wsgi import application


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


server = make_server("127.0.0.1", 0, application, server_class=Threaded, handler_class=Quiet)
threading.Thread(target=server.serve_forever, daemon=True).start()


def call(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=20)
    headers = {"Content-Type": "application/json"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    return answer.status, answer.read().decode()


out = {"forward": call("GET", sys.argv[1]),
       "capacity": call("POST", "/api/multicloud/v0/check_vim_capacity", sys.argv[2]),
       "green": sorted(m for m in sys.modules if m.split(".")[0] in ("eventlet", "gevent"))}
server.shutdown()
print(json.dumps(out))
"""


def test_the_app_serves_on_real_threads_without_eventlet(plugin: PluginServer,
                                                         inventory_db: Path,
                                                         web_framework: str,
                                                         tmp_path: Path) -> None:
    plugin.answer_capacity(f"{OCATA.plugin_v0}/capacity_check", True)
    plugin.answer_capacity(f"{PIKE.plugin_v0}/capacity_check", False)
    config = write_config(tmp_path / "threads.conf", {
        "DEFAULT": {"web_framework": web_framework},
        "inventory": {"backend": "sqlite", "sqlite_path": str(inventory_db)},
        "plugins": {"endpoints": {name: plugin.url for name in regions.PLUGINS}}})
    capacity = json.dumps({"vCPU": 1, "Memory": 1, "Storage": 1,
                           "VIMs": [OCATA.vim_id, PIKE.vim_id]})
    done = subprocess.run([sys.executable, "-c", SCRIPT, f"{OCATA.v0}/servers?limit=2", capacity],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                          env=broker_env({"MULTICLOUD_BROKER_CONFIG": str(config)}))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    status, body = out["forward"]
    assert status == 200, body
    echoed = json.loads(body)  # the plugin server echoes what it received
    assert (echoed["path"], echoed["query"]) == (f"{OCATA.plugin_v0}/servers", "limit=2")
    status, body = out["capacity"]  # asked both VIMs at once, on threads
    assert (status, json.loads(body)) == (200, {"VIMs": [OCATA.vim_id]})
    assert out["green"] == [], "eventlet or gevent was imported"

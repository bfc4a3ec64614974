"""`multicloud_broker.wsgi:application` for other WSGI servers, both frameworks."""

import importlib
import io
import json
import sys

import pytest


def call(app, path: str, method: str = "GET"):
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr}
    body = b"".join(app(environ, start_response))
    return captured["status"], dict(captured["headers"]), body


@pytest.mark.parametrize("framework", ["django", "pecan"])
def test_application_serves_the_configured_framework(monkeypatch, tmp_path, framework):
    conf = tmp_path / "b.conf"
    conf.write_text(f"[DEFAULT]\nweb_framework = {framework}\n"
                    f"[inventory]\nsqlite_path = {tmp_path / 'inv.sqlite'}\n")
    monkeypatch.setenv("MULTICLOUD_BROKER_CONFIG", str(conf))
    sys.modules.pop("multicloud_broker.wsgi", None)
    wsgi = importlib.import_module("multicloud_broker.wsgi")
    assert wsgi.conf.web_framework == framework
    status, headers, body = call(wsgi.application, "/api/multicloud/v1/vim_types")
    assert status == "200 OK"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)[0]["vim_type"] == "openstack"
    status, headers, body = call(wsgi.application, "/api/multicloud/v0/nothing_here/x/y",
                                 method="TRACE")
    assert status.startswith("405")
    assert "GET" in headers["Allow"]

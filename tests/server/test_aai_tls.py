"""A&AI over HTTPS: the broker verifies its certificate unless told not to."""

from __future__ import annotations

import ssl

import pytest

from tests.server.helpers import self_signed
from tests.support.broker import BrokerProcess
from tests.support.client import request
from tests.support.upstreams import AAIServer

FAST = "/api/multicloud/v0/proc_RegionOne/fast"


@pytest.fixture(scope="module")
def tls_aai(tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("aai-tls"))
    server = AAIServer()
    server.add_region("proc", "RegionOne", "openstack", "ocata")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield server, cert


@pytest.mark.parametrize("aai_tls, status", [
    ({}, 503),                     # default: verify, and the certificate is unknown
    ({"ca_file": "CERT"}, 200),    # verify against the given CA
    ({"verify_tls": False}, 200),  # told not to verify
])
def test_aai_certificate_is_verified_by_default(tmp_path, plugin, tls_aai, aai_tls, status):
    server, cert = tls_aai
    aai = {"protocol": "https", "host": "127.0.0.1", "port": server.port,
           **{k: (cert if v == "CERT" else v) for k, v in aai_tls.items()}}
    config = {"inventory": {"backend": "aai"}, "aai": aai,
              "plugins": {"endpoints": {"multicloud-ocata": plugin.url}}}
    with BrokerProcess(tmp_path, config, web_framework="django", workers=1) as broker:
        reply = request(broker.url, "GET", FAST)
    assert reply.status == status, reply
    if status == 200:
        assert reply.json() == {"fast": True}
    else:
        assert "A&AI" in reply.json()["error"]

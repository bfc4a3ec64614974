"""A region's Keystone over HTTPS: the plugin verifies its certificate with
the CA in the region's record (ssl-cacert), with the system's CAs when the
record has none, and not at all only where the record says ssl-insecure.

The web framework is not involved here (the sessions are below it): one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from multicloud_broker.inventory.sqlite import SqliteInventory
from multicloud_broker.simulators.keystone import LocalKeystone
from tests.openstack_plugin.conftest import OWNER, Chain, region_record, start_chain
from tests.server.helpers import self_signed
from tests.support.client import request


@pytest.fixture(scope="module")
def tls_chain(tmp_path_factory, openstack_sim) -> Iterator[Chain]:
    cert, key = self_signed(tmp_path_factory.mktemp("keystone-tls"))
    other_ca, _ = self_signed(tmp_path_factory.mktemp("other-ca"))
    with LocalKeystone(tmp_path_factory.mktemp("keystone"), tls=(cert, key)) as keystone:
        chain = start_chain(tmp_path_factory.mktemp("chain"), keystone, openstack_sim, "django")
        regions = SqliteInventory(str(chain.inventory))
        for region_id, access in (("WithCa", {"ca_cert": Path(cert).read_text()}),
                                  ("OtherCa", {"ca_cert": Path(other_ca).read_text()}),
                                  ("SystemCas", {}),
                                  ("Insecure", {"insecure": True})):
            regions.add(region_record(keystone, region_id, **access))
        try:
            yield chain
        finally:
            chain.broker.stop()
            chain.plugin.stop()


def _tenants(chain: Chain, region_id: str):
    return request(chain.broker.url, "GET", f"/api/multicloud/v0/{OWNER}_{region_id}/tenants")


@pytest.mark.parametrize("region_id", ["WithCa", "Insecure"])
def test_a_trusted_or_unverified_keystone_answers(tls_chain: Chain, region_id: str) -> None:
    reply = _tenants(tls_chain, region_id)
    assert reply.status == 200, reply
    assert {"id": tls_chain.tenant, "name": "admin"} in reply.json()["tenants"]


@pytest.mark.parametrize("region_id", ["OtherCa", "SystemCas"])
def test_an_unverified_certificate_is_a_502_naming_tls(tls_chain: Chain, region_id: str) -> None:
    reply = _tenants(tls_chain, region_id)
    assert reply.status == 502, reply
    error = reply.json()["error"]
    assert f"cloud region {OWNER}/{region_id}" in error and "TLS" in error
    assert "CERTIFICATE_VERIFY_FAILED" in error or "certificate verify failed" in error


def test_the_identity_proxy_authenticates_over_tls_with_the_regions_ca(
        tls_chain: Chain) -> None:
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"},
        "password": tls_chain.keystone.admin_password}}}}}
    reply = request(tls_chain.broker.url, "POST",
                    f"/api/multicloud/v0/{OWNER}_WithCa/identity/v3/auth/tokens",
                    body=json.dumps(auth).encode(), headers={"Content-Type": "application/json"})
    assert reply.status == 201, reply
    assert reply.headers["X-Subject-Token"]
    # The catalog names MultiCloud's address, never the cloud's https one.
    assert "https://" not in reply.body.decode()

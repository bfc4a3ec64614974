"""AaiInventory against a real A&AI stand-in: each kind of answer becomes the
right kind of error; check() refuses malformed addresses without calling A&AI."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from multicloud_broker.inventory import (IncompleteRegion, InventoryConfigError,
                                         InventoryRefused, InventoryUnreachable,
                                         RegionNotFound)
from multicloud_broker.inventory.aai import AaiInventory
from tests.support.upstreams import AAIServer, ClosedPort, aai_region_record


def conf(port: int = 8443, **aai) -> SimpleNamespace:
    values = dict(protocol="http", host="127.0.0.1", port=port, schema_version="v13",
                  username="AAI", password="secret", app_id="MultiCloud", verify_tls=True,
                  ca_file="", connect_timeout=0.5, read_timeout=0.5)
    values.update(aai)
    return SimpleNamespace(aai=SimpleNamespace(**values))


@pytest.fixture(scope="module")
def aai():
    with AAIServer() as server:
        server.add_region("o", "r", "openstack", "ocata")
        yield server


@pytest.fixture
def inventory(aai):
    aai.set_mode("ok")
    yield AaiInventory(conf(aai.port))
    aai.set_mode("ok")


def test_found_and_not_found(inventory):
    region = inventory.get("o", "r")
    assert (region.cloud_type, region.cloud_region_version) == ("openstack", "ocata")
    with pytest.raises(RegionNotFound):
        inventory.get("o", "nope")


@pytest.mark.parametrize("mode", ["unauthorized", "forbidden"])
def test_refused_credentials(inventory, aai, mode):
    aai.set_mode(mode)
    with pytest.raises(InventoryRefused, match="refused the broker's credentials") as caught:
        inventory.get("o", "r")
    assert caught.value.status == 503
    assert "secret" not in caught.value.message


@pytest.mark.parametrize("mode", ["error", "garbage", "hang"])
def test_faults_are_outages(inventory, aai, mode):
    aai.set_mode(mode)
    with pytest.raises(InventoryUnreachable) as caught:
        inventory.get("o", "r")
    assert caught.value.status == 503


def test_a_closed_port_is_an_outage():
    with ClosedPort() as closed:
        with pytest.raises(InventoryUnreachable, match="unreachable"):
            AaiInventory(conf(closed.port)).get("o", "r")


@pytest.mark.parametrize("field,value", [
    ("cloud-type", None), ("cloud-type", " "), ("cloud-type", ["openstack"]),
    ("cloud-region-version", None), ("cloud-region-version", True)])
def test_unusable_records_are_404s_naming_the_field(inventory, aai, field, value):
    record = aai_region_record("o", "bad", "openstack", "ocata")
    if value is None:
        del record[field]
    else:
        record[field] = value
    aai.put_record("o", "bad", record)
    with pytest.raises(IncompleteRegion, match=field) as caught:
        inventory.get("o", "bad")
    assert caught.value.status == 404


def test_a_numeric_version_is_usable(inventory, aai):
    record = aai_region_record("o", "num", "vmware", "x")
    record["cloud-region-version"] = 4.0
    aai.put_record("o", "num", record)
    assert inventory.get("o", "num").cloud_region_version == "4.0"


def test_check_accepts_a_well_formed_address_without_calling_aai(aai):
    aai.clear_requests()
    AaiInventory(conf(aai.port)).check()
    assert aai.requests == []


@pytest.mark.parametrize("changes,named", [
    ({"host": ""}, "host"), ({"host": "http://aai"}, "host"), ({"port": 0}, "port"),
    ({"port": 99999}, "port"), ({"schema_version": ""}, "schema_version"),
    ({"protocol": "https", "ca_file": "/nonexistent/ca.pem"}, "ca_file")])
def test_check_refuses_malformed_addresses(changes, named):
    with pytest.raises(InventoryConfigError, match=named):
        AaiInventory(conf(**changes)).check()

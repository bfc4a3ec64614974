"""AaiInventory against a real A&AI stand-in: each kind of answer becomes the
right kind of error; check() refuses malformed addresses without calling A&AI."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from multicloud_broker.inventory import (CloudAccess, IncompleteRegion, InventoryConfigError,
                                         InventoryRefused, InventoryUnreachable,
                                         RegionNotFound)
from multicloud_broker.inventory.aai import AaiInventory
from multicloud_broker.inventory.cache import CachedInventory
from tests.support.upstreams import AAIServer, ClosedPort, aai_esr_record, aai_region_record

HOSTILE = "p%s'\"\\\n wörd \U0001f511"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
REGION_PATH = "/aai/v13/cloud-infrastructure/cloud-regions/cloud-region/o/{region}"


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


# -- the cloud's access: esr-system-info and cloud-extra-info --------------------------------

def _with_access(aai, region, *entries, **record_fields):
    record = aai_region_record("o", region, "openstack", "ocata")
    record.update(record_fields)
    aai.put_record("o", region, record)
    aai.set_esr("o", region, *entries)


def test_the_access_is_read_from_the_esr_system_info_list(inventory, aai):
    _with_access(aai, "acc", aai_esr_record(
        "https://keystone.example:5000/v3", "admin", HOSTILE,
        **{"cloud-domain": "Dom", "default-tenant": "proj", "ssl-cacert": PEM,
           "ssl-insecure": True}),
        **{"cloud-extra-info": json.dumps({"openstack-region-id": "RegionKs"})})
    aai.clear_requests()
    region = inventory.get("o", "acc", "txn-1")
    assert region.access == CloudAccess("https://keystone.example:5000/v3", "admin", HOSTILE,
                                        "Dom", "proj", PEM, True, "RegionKs")
    # Two small GETs, both with the broker's credentials and the transaction id.
    paths = [r.target for r in aai.requests]
    assert paths == [REGION_PATH.format(region="acc"),
                     REGION_PATH.format(region="acc") + "/esr-system-info-list"]
    assert all(aai.basic_auth(r) == ("AAI", "secret")
               and r.headers.get("X-TransactionId") == "txn-1" for r in aai.requests)
    # The record A&AI answered is the region's extra, without the password.
    assert region.extra["esr-system-info-list"]["esr-system-info"][0]["user-name"] == "admin"
    assert "password" not in json.dumps(region.extra) and HOSTILE not in repr(region)


def test_no_esr_system_info_no_access(inventory, aai):
    _with_access(aai, "none")
    region = inventory.get("o", "none")
    assert region.access is None and region.cloud_type == "openstack"


@pytest.mark.parametrize("extra_info", [None, "{not json", "[]", json.dumps({"x": 1}),
                                        json.dumps({"openstack-region-id": 7})],
                         ids=["absent", "invalid", "array", "without-it", "number"])
def test_the_openstack_region_defaults_to_the_region_id(inventory, aai, extra_info):
    fields = {} if extra_info is None else {"cloud-extra-info": extra_info}
    _with_access(aai, "RegionDef", aai_esr_record(), **fields)
    assert inventory.get("o", "RegionDef").access.openstack_region == "RegionDef"


def test_an_answer_with_the_list_inline_needs_no_second_get(inventory, aai):
    record = aai_region_record("o", "inline", "openstack", "ocata")
    record["esr-system-info-list"] = {"esr-system-info": [aai_esr_record(password="pw")]}
    aai.put_record("o", "inline", record)
    aai.clear_requests()
    assert inventory.get("o", "inline").access.password == "pw"
    assert len(aai.requests) == 1


def test_an_unusable_access_is_left_out_with_a_warning_and_the_region_still_served(
        inventory, aai, caplog):
    _with_access(aai, "badacc", aai_esr_record("keystone:5000", password=HOSTILE))
    with caplog.at_level(logging.WARNING, "multicloud_broker.inventory.aai"):
        region = inventory.get("o", "badacc")
        inventory.get("o", "badacc")
    assert region.access is None and region.cloud_region_version == "ocata"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "service-url" in lines[0]  # once per interval
    assert HOSTILE not in caplog.text


def test_an_incomplete_region_costs_no_second_get(inventory, aai):
    record = aai_region_record("o", "half", "openstack", "ocata")
    del record["cloud-type"]
    aai.put_record("o", "half", record)
    aai.clear_requests()
    with pytest.raises(IncompleteRegion):
        inventory.get("o", "half")
    assert len(aai.requests) == 1


def test_faults_of_the_second_get_are_the_lookup_s(aai):
    """A&AI failing on the esr-system-info-list: the lookup fails as for the
    region (an outage, ridden out by the cache; refused credentials)."""
    class FailingSecond(AAIServer):
        status = 500

        def _respond(self, handler, recorded):
            if recorded.path.endswith("/esr-system-info-list"):
                handler.send_reply(self.status, b"{}", [("Content-Type", "application/json")])
                return
            super()._respond(handler, recorded)

    with FailingSecond() as server:
        server.add_region("o", "r", "openstack", "ocata")
        inventory = AaiInventory(conf(server.port))
        with pytest.raises(InventoryUnreachable, match="answered 500"):
            inventory.get("o", "r")
        server.status = 403
        with pytest.raises(InventoryRefused):
            inventory.get("o", "r")


def test_the_cache_keeps_the_access_two_gets_per_ttl(aai):
    _with_access(aai, "cached", aai_esr_record(password=HOSTILE))
    now = [0.0]
    cached = CachedInventory(AaiInventory(conf(aai.port)), ttl=10, clock=lambda: now[0])
    aai.clear_requests()
    for _ in range(5):
        assert cached.get("o", "cached").access.password == HOSTILE
    assert len(aai.requests) == 2
    now[0] = 11.0
    assert cached.get("o", "cached").access.password == HOSTILE
    assert len(aai.requests) == 4


def test_the_stand_in_answers_like_a_and_ai(aai):
    """AAIServer's esr answers, which the tests above rely on."""
    import urllib3
    _with_access(aai, "shape", aai_esr_record(esr_id="e-1"), aai_esr_record(esr_id="e-2"))
    base = f"{aai.url}{REGION_PATH.format(region='shape')}"
    http = urllib3.PoolManager()

    def get(url):
        resp = http.request("GET", url)
        return resp.status, (json.loads(resp.data) if resp.status == 200 else None)

    assert "esr-system-info-list" not in get(base)[1]  # depth 0, A&AI's default
    for depth in ("all", "1"):
        inline = get(f"{base}?depth={depth}")[1]["esr-system-info-list"]["esr-system-info"]
        assert [e["esr-system-info-id"] for e in inline] == ["e-1", "e-2"]
    assert len(get(base + "/esr-system-info-list")[1]["esr-system-info"]) == 2
    assert get(base + "/esr-system-info-list/esr-system-info/e-2")[1]["system-type"] == "VIM"
    assert get(base + "/esr-system-info-list/esr-system-info/e-3")[0] == 404
    aai.set_esr("o", "shape")
    assert get(base + "/esr-system-info-list")[0] == 404  # empty: A&AI answers 404
    assert get(REGION_PATH.format(region="nope").join([aai.url, "/esr-system-info-list"]))[0] \
        == 404
    http.clear()

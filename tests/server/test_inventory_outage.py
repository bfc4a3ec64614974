"""Inventory outages as a user meets them: a real A&AI that goes down, fails,
hangs or refuses the broker's credentials, in front of a real broker process
(one worker, so every request meets the same cache), under both frameworks.

cache_ttl is 1 s and stale_ttl large: a region used before the outage is
still answered after its cache entry expired, regions never seen get 503.
The tests synchronise on what the broker logs and A&AI records, not on sleeps.
"""

from __future__ import annotations

import time

import pytest

from tests.server.helpers import FRAMEWORKS, wait_until
from tests.support.broker import BrokerProcess
from tests.support.client import request
from tests.support.contract import assert_json_error
from tests.support.upstreams import AAIServer, PluginServer, aai_region_record

OWNER = "outage"
LOOKUP = "/aai/v13/cloud-infrastructure/cloud-regions/cloud-region/outage/"


def path(region: str) -> str:
    return f"/api/multicloud/v0/{OWNER}_{region}/tenants"


@pytest.fixture(scope="module", params=FRAMEWORKS)
def setup(server_backend, request, tmp_path_factory):
    """(broker, aai, plugin) for one framework; A&AI is put back to "ok" by each test."""
    with AAIServer() as aai, PluginServer() as plugin:
        config = {
            "DEFAULT": {"graceful_shutdown_timeout": 5},
            "inventory": {"backend": "aai", "cache_ttl": 1, "stale_ttl": 3600,
                          "negative_ttl": 60},
            "aai": {"protocol": "http", "host": "127.0.0.1", "port": aai.port,
                    "connect_timeout": 0.5, "read_timeout": 1},
            "plugins": {"endpoints": {"multicloud-ocata": plugin.url}},
        }
        workdir = tmp_path_factory.mktemp(f"outage-{request.param}")
        with BrokerProcess(workdir, config, web_framework=request.param, workers=1) as broker:
            yield broker, aai, plugin


def _log_lines(broker: BrokerProcess, text: str) -> list[str]:
    return [line for line in broker.stderr_path.read_text(errors="replace").splitlines()
            if text in line]


def _fault(aai: AAIServer, fault: str) -> None:
    if fault == "down":
        aai.go_down()
    else:
        aai.set_mode(fault)


def _recover(aai: AAIServer, fault: str) -> None:
    if fault == "down":
        aai.come_up()
    aai.set_mode("ok")


@pytest.mark.parametrize("fault", ["down", "error", "hang"])
def test_regions_seen_are_served_through_an_outage_and_unseen_ones_get_503(setup, fault):
    broker, aai, plugin = setup
    seen, unseen = f"Seen{fault}", f"Unseen{fault}"
    aai.add_region(OWNER, seen, "openstack", "ocata")
    aai.add_region(OWNER, unseen, "openstack", "ocata")
    assert request(broker.url, "GET", path(seen)).status == 200
    _fault(aai, fault)
    try:
        marker = f"serving cloud region {OWNER}/{seen}"

        def still_served() -> bool:  # every answer meanwhile must be the plugin's 200
            reply = request(broker.url, "GET", path(seen))
            assert reply.status == 200, reply
            return bool(_log_lines(broker, marker))
        wait_until(still_served, timeout=20, interval=0.1)  # the entry expired, refresh failed
        assert request(broker.url, "GET", path(seen)).status == 200
        message = assert_json_error(request(broker.url, "GET", path(unseen)), 503)
        assert "unreachable" in message or "answered 500" in message, message
        assert "not seen recently" in message
        assert not plugin.requests_to(f"/api/multicloud-ocata/v0/{OWNER}_{unseen}/tenants")
        # A&AI is shared by the fleet: it does not decide this replica's readiness.
        assert request(broker.url, "GET", "/readyz").status == 200
    finally:
        _recover(aai, fault)


def test_an_outage_is_logged_once_per_region_not_per_request(setup):
    broker, aai, _ = setup
    region = "Logged"
    aai.add_region(OWNER, region, "openstack", "ocata")
    assert request(broker.url, "GET", path(region)).status == 200
    before = len(aai.requests_to(LOOKUP + region))
    aai.set_mode("error")
    try:
        def refreshed_three_times() -> bool:
            assert request(broker.url, "GET", path(region)).status == 200
            return len(aai.requests_to(LOOKUP + region)) >= before + 3
        wait_until(refreshed_three_times, timeout=20, interval=0.05)
    finally:
        aai.set_mode("ok")
    # Three failed refreshes (one per cache_ttl, not one per request) and many
    # requests, one log line.
    assert len(_log_lines(broker, f"serving cloud region {OWNER}/{region}")) == 1


def test_refused_credentials_are_a_503_saying_so_logged_once(setup):
    broker, aai, plugin = setup
    aai.add_region(OWNER, "Refused", "openstack", "ocata")
    try:
        for mode in ("unauthorized", "forbidden"):
            aai.set_mode(mode)
            for _ in range(3):
                message = assert_json_error(request(broker.url, "GET", path("Refused")), 503)
                assert "refused the broker's credentials" in message, message
    finally:
        aai.set_mode("ok")
    lines = _log_lines(broker, "configuration error")
    assert len(lines) == 1 and "credentials" in lines[0], lines
    assert not plugin.requests_to("/api/multicloud-ocata/v0/outage_Refused/tenants")


@pytest.mark.parametrize("field,value", [("cloud-type", None), ("cloud-type", ""),
                                         ("cloud-region-version", None),
                                         ("cloud-region-version", {"major": 4})])
def test_a_record_without_a_usable_field_is_a_404_naming_it(setup, field, value):
    broker, aai, plugin = setup
    region = f"Broken{field.replace('-', '')}{value is None}"
    record = aai_region_record(OWNER, region, "openstack", "ocata")
    if value is None:
        del record[field]
    else:
        record[field] = value
    aai.put_record(OWNER, region, record)
    message = assert_json_error(request(broker.url, "GET", path(region)), 404)
    assert field in message and f"{OWNER}/{region}" in message, message
    assert not plugin.requests_to(f"/api/multicloud-ocata/v0/{OWNER}_{region}/tenants")


def test_unknown_regions_cost_one_lookup_each_per_negative_ttl(setup):
    broker, aai, _ = setup
    unknown = [f"Ghost{i}" for i in range(10)]
    body = ('{"vCPU": 1, "Memory": 1, "Storage": 1, "VIMs": [%s]}' % ", ".join(
        f'"{OWNER}_{r}"' for r in unknown)).encode()
    for _ in range(3):  # check_vim_capacity listing them all, three times
        reply = request(broker.url, "POST", "/api/multicloud/v0/check_vim_capacity", body,
                        headers={"Content-Type": "application/json"})
        assert reply.status == 200 and reply.json() == {"VIMs": []}, reply
    for _ in range(5):
        assert_json_error(request(broker.url, "GET", path(unknown[0])), 404)
    assert [len(aai.requests_to(LOOKUP + r)) for r in unknown] == [1] * 10


def test_back_from_an_outage_changes_are_seen_again(setup):
    broker, aai, plugin = setup
    region = "Moved"
    aai.add_region(OWNER, region, "openstack", "ocata")
    assert request(broker.url, "GET", path(region)).status == 200
    aai.go_down()
    aai.come_up()
    aai.add_region(OWNER, region, "openstack", "pike")  # now served by another plugin
    deadline = time.monotonic() + 20
    while request(broker.url, "GET", path(region)).status != 502:  # pike: no endpoint
        assert time.monotonic() < deadline, "the new record was never used"
        time.sleep(0.1)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_sqlite_inventory_broken_after_start_is_a_503_then_recovers(tmp_path, framework):
    """The file is this replica's own: /readyz says it cannot be read, too."""
    from multicloud_broker.inventory import CloudRegion
    from multicloud_broker.inventory.sqlite import SqliteInventory

    db = tmp_path / "inventory.sqlite"
    SqliteInventory(str(db)).add(CloudRegion(OWNER, "Local", "openstack", "ocata"))
    with PluginServer() as plugin:
        config = {"DEFAULT": {"graceful_shutdown_timeout": 5},
                  "inventory": {"backend": "sqlite", "sqlite_path": str(db),
                                "probe_interval": 0},
                  "plugins": {"endpoints": {"multicloud-ocata": plugin.url}}}
        with BrokerProcess(tmp_path, config, web_framework=framework, workers=1) as broker:
            for leftover in tmp_path.glob("inventory.sqlite*"):
                leftover.unlink()
            db.write_bytes(b"not a database any more\n" * 500)
            for _ in range(2):
                message = assert_json_error(request(broker.url, "GET", path("Local")), 503)
                assert "inventory unavailable" in message, message
            ready = request(broker.url, "GET", "/readyz")
            assert ready.status == 503, ready
            assert "inventory unavailable" in ready.json()["checks"]["inventory"], ready
            db.unlink()
            SqliteInventory(str(db)).add(CloudRegion(OWNER, "Local", "openstack", "ocata"))
            assert request(broker.url, "GET", path("Local")).status == 200
            assert request(broker.url, "GET", "/readyz").status == 200
        assert "Traceback" not in broker.output()

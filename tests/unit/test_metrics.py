"""Metrics in-process: bounded labels, the documented /metrics, where an
inventory answer came from, the multiprocess directory's life."""

from __future__ import annotations

import io
import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from multicloud_broker import metrics
from multicloud_broker.core.routes import ROUTES
from multicloud_broker.core.swagger import swagger_document
from multicloud_broker.inventory import CloudRegion, InventoryUnreachable, RegionNotFound
from multicloud_broker.inventory.cache import SOURCE, CachedInventory, inventory_source

ALLOWED_ROUTES = {(r.root + r.template).replace(":path", "") for r in ROUTES} | {"unmatched"}


def _call(app, method: str, path: str) -> str:
    status = {}

    def start_response(line, headers, exc_info=None):
        status["line"] = line

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "RAW_PATH_INFO": path,
               "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
               "wsgi.errors": sys.stderr}
    body = app(environ, start_response)
    b"".join(body)
    getattr(body, "close", lambda: None)()
    return status["line"]


@pytest.fixture(params=["django", "pecan"])
def app(request, tmp_path, monkeypatch):
    conf_file = tmp_path / "b.conf"
    conf_file.write_text(f"[DEFAULT]\nweb_framework = {request.param}\n"
                         f"[inventory]\nsqlite_path = {tmp_path / 'inv.sqlite'}\n")
    from multicloud_broker.config import load_config
    from multicloud_broker.web import build_app
    return build_app(load_config(["--config-file", str(conf_file)]))


def _samples(name: str) -> list:
    text = metrics.exposition().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name]


def test_random_paths_and_methods_make_no_new_label_values(app):
    rng = random.Random(11)
    sent = []
    for _ in range(300):
        junk = "".join(rng.choice(string.ascii_letters + "_-.~") for _ in range(12))
        path = rng.choice([f"/{junk}", f"/api/multicloud/v0/{junk}",
                           f"/api/multicloud/v1/{junk}/{junk}/x/{junk}",
                           f"/api/multicloud/v0/own_{junk}/y", f"/metrics/{junk}",
                           f"/aai/{junk}/cloud-infrastructure/cloud-regions"])
        method = rng.choice(["GET", "POST", "BREW", junk.upper()[:8] or "X", "PROPFIND"])
        sent.append(junk)
        _call(app, method, path)
    samples = _samples("multicloud_broker_requests_total")
    assert samples
    assert {s.labels["route"] for s in samples} <= ALLOWED_ROUTES
    assert {s.labels["method"] for s in samples} <= {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert {int(s.labels["status"]) for s in samples} <= set(range(100, 600))
    text = metrics.exposition().decode()
    assert not [junk for junk in sent if junk in text]
    counted = {s.labels["route"] for s in samples
               if s.labels["method"] in ("other", "GET") and s.labels["status"] == "404"}
    assert "unmatched" in counted


def test_metrics_route_answers_prometheus_text(app):
    assert _call(app, "GET", "/api/multicloud/v0/vim_types").startswith("200")
    assert _call(app, "GET", "/metrics").startswith("200")
    vim_types = [s for s in _samples("multicloud_broker_requests_total")
                 if s.labels["route"] == "/api/multicloud/v0/vim_types"]
    assert vim_types and vim_types[0].value >= 1
    info = _samples("multicloud_broker_build_info")
    assert info and info[0].labels["framework"] in ("django", "pecan")
    assert _call(app, "POST", "/metrics").startswith("405")


def test_swagger_documents_metrics_as_text():
    doc = json.loads(swagger_document())
    operation = doc["paths"]["/metrics"]["get"]
    assert operation["produces"] == [metrics.CONTENT_TYPE]
    assert metrics.CONTENT_TYPE.startswith("text/plain; version=0.0.4")
    assert set(operation["responses"]) == {"200", "400", "413"}
    assert "post" not in doc["paths"]["/metrics"]


class _Backend:
    """An inventory that knows one region and can be made unreachable."""

    def __init__(self) -> None:
        self.down = False
        self.asked = 0

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        self.asked += 1
        if self.down:
            raise InventoryUnreachable("A&AI unreachable: connection refused")
        if (owner, region) != ("o", "r"):
            raise RegionNotFound(owner, region)
        return CloudRegion("o", "r", "openstack", "ocata")

    def check(self) -> None:
        pass


def _cache_count(result: str) -> float:
    return sum(s.value for s in _samples("multicloud_broker_inventory_cache_lookups_total")
               if s.labels["result"] == result)


def _lookups(outcome: str) -> float:
    return sum(s.value for s in _samples("multicloud_broker_inventory_lookups_total")
               if s.labels == {"backend": "aai", "outcome": outcome})


def test_the_inventory_says_where_each_answer_came_from():
    now = [0.0]
    backend = _Backend()
    inventory = CachedInventory(metrics.CountedInventory(backend, "aai"), ttl=10,
                                stale_ttl=100, clock=lambda: now[0])
    before = {k: _cache_count(k) for k in ("hit", "miss", "stale")}
    found_before, unreachable_before = _lookups("found"), _lookups("unreachable")

    inventory.get("o", "r")
    assert inventory_source(inventory) == "aai" and SOURCE.get() == "aai"
    inventory.get("o", "r")
    assert inventory_source(inventory) == "cache"
    now[0] = 50.0  # expired; the inventory is down: served as last seen
    backend.down = True
    assert inventory.get("o", "r").cloud_type == "openstack"
    assert inventory_source(inventory) == "stale"
    assert backend.asked == 2

    assert _cache_count("hit") - before["hit"] == 1
    assert _cache_count("miss") - before["miss"] == 2
    assert _cache_count("stale") - before["stale"] == 1
    assert _lookups("found") - found_before == 1
    assert _lookups("unreachable") - unreachable_before == 1
    # Without a cache the backend answers every lookup itself.
    assert inventory_source(metrics.CountedInventory(backend, "sqlite")) == "sqlite"


_DIRECTORY_SCRIPT = """
import os, sys
from multicloud_broker import metrics
path = metrics.start_multiprocess()
print(path)
print(os.environ["PROMETHEUS_MULTIPROC_DIR"] == path)
metrics.worker_started()
print(sorted(os.listdir(path)))
"""


def test_the_bootstrap_makes_a_private_directory_and_removes_it(tmp_path: Path):
    orphan = tmp_path / "multicloud-broker-metrics-999999999-abc"  # no such pid
    orphan.mkdir()
    (orphan / "counter_1.db").write_bytes(b"x")
    alive = tmp_path / f"multicloud-broker-metrics-{os.getpid()}-abc"
    alive.mkdir()
    env = {k: v for k, v in os.environ.items() if k != metrics.ENV}
    env["RUNTIME_DIRECTORY"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", _DIRECTORY_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    path, same, files = done.stdout.splitlines()
    assert Path(path).parent == tmp_path and same == "True"
    assert "counter_" in files
    assert not Path(path).exists()  # removed at exit
    assert not orphan.exists() and alive.exists()


def test_an_operators_directory_is_emptied_and_kept(tmp_path: Path):
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old")
    env = {**os.environ, metrics.ENV: str(given)}
    done = subprocess.run([sys.executable, "-c", _DIRECTORY_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(given)
    assert given.exists() and not (given / "counter_123.db").exists()


@pytest.mark.parametrize("seconds", [0.0, 0.0001, 0.0005, 0.0007, 1.0, 60.0, 121.0, 1e9])
def test_the_hot_path_recorder_counts_as_inc_and_observe(seconds):
    """_Recorder writes straight to prometheus_client's values: the exposed
    samples must be those of Counter.inc plus Histogram.observe."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    def pair():
        registry = CollectorRegistry()
        counter = Counter("c", "c", ["a"], registry=registry).labels("x")
        histogram = Histogram("h", "h", ["a"], registry=registry,
                              buckets=metrics._DURATION_BUCKETS).labels("x")
        return registry, counter, histogram

    by_library, counter, histogram = pair()
    by_recorder, *children = pair()
    recorder = metrics._Recorder(*children)
    for _ in range(3):
        counter.inc()
        histogram.observe(seconds)
        recorder.record(seconds)

    def samples(registry):
        return sorted((s.name, tuple(sorted(s.labels.items())), s.value)
                      for family in registry.collect() for s in family.samples
                      if not s.name.endswith("_created"))
    assert samples(by_recorder) == samples(by_library)
    assert b"c_total" in generate_latest(by_recorder)

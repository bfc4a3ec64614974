"""ONAP's image API and OpenStack's own clients, through the broker and the
plugin, against the real Glance (its region's image service) and the real
Keystone: what the simulator's Glance imitates, checked on the original."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from openstack import connection

from multicloud_broker.inventory.sqlite import SqliteInventory
from multicloud_broker.simulators.glance import LocalGlance
from multicloud_broker.simulators.keystone import LocalKeystone
from tests.openstack_plugin.conftest import OWNER, PLUGIN, admin_sdk, chain_config, region_record
from tests.support.broker import BrokerProcess
from tests.support.client import Reply, request
from tests.support.glance import (  # noqa: F401
    GLANCE_REGION,
    file_server,
    glance_fixture,
    glance_launched_fixture,
)
from tests.support.openstack_sim import OpenStackSim
from tests.support.plugin import PluginProcess
from tests.support.upstreams import free_port

VIMID = f"{OWNER}_{GLANCE_REGION}"
JSON = {"Content-Type": "application/json"}
# What an image's file holds here: text, so that Glance's inspection finds
# no other format in it than the `raw` it is declared as.
IMAGE_BYTES = b"multicloud image bytes\n" * 4000


@dataclass
class GlanceChain:
    broker: BrokerProcess
    plugin: PluginProcess
    keystone: LocalKeystone
    glance: LocalGlance
    tenant: str

    def v0(self, rest: str) -> str:
        return f"/api/multicloud/v0/{VIMID}/{rest}"

    def v1(self, rest: str) -> str:
        return f"/api/multicloud/v1/{OWNER}/{GLANCE_REGION}/{rest}"

    def call(self, method: str, path: str, body: object = None) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        return request(self.broker.url, method, path, body=data,
                       headers=JSON if data else None)


@pytest.fixture(scope="module", params=["django", "pecan"])
def glance_chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 keystone: LocalKeystone, glance_launched: LocalGlance
                 ) -> Iterator[GlanceChain]:
    """Broker and plugin with a region whose image service is the real Glance.
    They start while Glance loads; the first test waits for it."""
    workdir = tmp_path_factory.mktemp(f"glance-chain-{request.param}")
    inventory = workdir / "inventory.sqlite"
    SqliteInventory(str(inventory)).add(
        region_record(keystone, GLANCE_REGION, openstack_region=GLANCE_REGION))
    broker_port = free_port()
    plugin = PluginProcess(workdir, chain_config(
        inventory, broker_url=f"http://127.0.0.1:{broker_port}"),
        web_framework=request.param, workers=1, name="plugin").start()
    broker_conf = chain_config(inventory)
    broker_conf["plugins"] = {"endpoints": {PLUGIN: plugin.url}}
    try:
        broker = BrokerProcess(workdir, broker_conf, web_framework=request.param, workers=1,
                               port=broker_port, name="broker").start()
        try:
            glance_launched.wait_ready()
            yield GlanceChain(broker, plugin, keystone, glance_launched,
                              keystone.admin_session().get_project_id())
        finally:
            broker.stop()
    finally:
        plugin.stop()


def glance_sdk(keystone: LocalKeystone, auth_url: str | None = None) -> connection.Connection:
    """openstacksdk to Glance's region: straight, or through MultiCloud."""
    return admin_sdk(keystone, auth_url, GLANCE_REGION)


@pytest.fixture(scope="module")
def active_image(glance_chain: GlanceChain) -> Iterator[dict]:
    """An image uploaded straight to Glance, active: what the list shows."""
    cloud = glance_sdk(glance_chain.keystone)
    image = cloud.image.create_image(name=unique("seed"), data=IMAGE_BYTES, disk_format="raw",
                                     container_format="bare", wait=True)
    yield {"id": image.id, "name": image.name}
    cloud.image.delete_image(image.id, ignore_missing=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for_status(chain: GlanceChain, path: str, wanted: str, seconds: float = 30) -> dict:
    """GET the image until its status is `wanted` (or the time is up); the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        shown = chain.call("GET", path).json()
        if shown.get("status") == wanted or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


# --------------------------------------------------------------- ONAP's API

def test_the_list_is_onaps_envelope_of_glances_images(glance_chain: GlanceChain,
                                                      active_image: dict) -> None:
    reply = glance_chain.call("GET", glance_chain.v0(f"{glance_chain.tenant}/images"))
    assert reply.status == 200, reply
    listed = reply.json()
    assert (listed["vimId"], listed["vimName"], listed["tenantId"]) == (
        VIMID, VIMID, glance_chain.tenant)
    image = next(i for i in listed["images"] if i["id"] == active_image["id"])
    assert image["name"] == active_image["name"] and image["status"] == "active"
    assert (image["imageType"], image["containerFormat"]) == ("raw", "bare")
    assert image["size"] == len(IMAGE_BYTES)
    assert image["checksum"] == hashlib.md5(IMAGE_BYTES, usedforsecurity=False).hexdigest()


def test_an_image_is_found_by_id_and_by_name(glance_chain: GlanceChain,
                                             active_image: dict) -> None:
    base = glance_chain.v1(f"{glance_chain.tenant}/images")
    one = glance_chain.call("GET", f"{base}/{active_image['id']}")
    assert one.status == 200, one
    assert one.json()["name"] == active_image["name"]
    assert (one.json()["cloud-owner"], one.json()["cloud-region-id"]) == (OWNER, GLANCE_REGION)
    named = glance_chain.call("GET", f"{base}?name={active_image['name']}")
    assert named.status == 200, named
    assert [i["id"] for i in named.json()["images"]] == [active_image["id"]]
    assert glance_chain.call("GET", f"{base}?name={unique('none')}").json()["images"] == []


def test_an_unknown_image_is_a_404_with_glances_words(glance_chain: GlanceChain) -> None:
    missing = str(uuid.uuid4())
    reply = glance_chain.call("GET", glance_chain.v0(f"{glance_chain.tenant}/images/{missing}"))
    assert reply.status == 404, reply
    message = reply.json()["error"]
    assert f"No image found with ID {missing}" in message
    assert "<" not in message, message  # Glance's HTML page is not passed on


def test_an_image_is_created_from_its_imagepath_and_deleted(
        glance_chain: GlanceChain, tmp_path: Path) -> None:
    (tmp_path / "disk.raw").write_bytes(IMAGE_BYTES)
    base = glance_chain.v0(f"{glance_chain.tenant}/images")
    name = unique("made")
    with file_server(tmp_path) as files:
        body = {"name": name, "imageType": "raw", "containerFormat": "bare",
                "visibility": "private", "imagePath": f"{files}/disk.raw",
                "properties": [{"keyName": "os_distro", "value": "cirros"}]}
        created = glance_chain.call("POST", base, body)
        assert created.status == 202, created
        image = created.json()
        assert image["returnCode"] == 1 and image["name"] == name
        assert image["status"] == "queued" and "imagePath" not in image
        shown = wait_for_status(glance_chain, f"{base}/{image['id']}", "active")
    assert shown["status"] == "active", shown
    assert shown["size"] == len(IMAGE_BYTES)
    assert {"keyName": "os_distro", "value": "cirros"} in shown["properties"]
    cloud = glance_sdk(glance_chain.keystone)
    assert cloud.image.download_image(image["id"]).content == IMAGE_BYTES
    again = glance_chain.call("POST", base, body)
    assert again.status == 200 and again.json()["returnCode"] == 0
    assert again.json()["id"] == image["id"]

    assert glance_chain.call("DELETE", f"{base}/{image['id']}").status == 204
    assert glance_chain.call("GET", f"{base}/{image['id']}").status == 404
    assert list(cloud.image.images(name=name)) == []


def test_an_imagepath_that_cannot_be_fetched_leaves_no_image(
        glance_chain: GlanceChain, tmp_path: Path) -> None:
    base = glance_chain.v0(f"{glance_chain.tenant}/images")
    name = unique("nofile")
    with file_server(tmp_path) as files:
        reply = glance_chain.call("POST", base, {
            "name": name, "imageType": "raw", "containerFormat": "bare",
            "imagePath": f"{files}/missing.raw"})
    assert reply.status == 400, reply
    assert "missing.raw" in reply.json()["error"] and "404" in reply.json()["error"]
    assert list(glance_sdk(glance_chain.keystone).image.images(name=name)) == []


def test_glances_own_refusal_reaches_the_caller(glance_chain: GlanceChain) -> None:
    base = glance_chain.v0(f"{glance_chain.tenant}/images")
    name = unique("bad")
    reply = glance_chain.call("POST", base, {
        "name": name, "imageType": "raw", "containerFormat": "bare",
        "imagePath": "http://127.0.0.1:9/never-fetched", "properties": {"hw_disk_bus": 7}})
    assert reply.status == 400, reply
    assert "7 is not of type 'string'" in reply.json()["error"]
    assert list(glance_sdk(glance_chain.keystone).image.images(name=name)) == []


# ------------------------------------------------------ OpenStack's clients

def test_openstacksdk_uploads_an_image_through_multicloud(glance_chain: GlanceChain) -> None:
    identity = f"{glance_chain.broker.url}/api/multicloud/v0/{VIMID}/identity/v3"
    cloud = glance_sdk(glance_chain.keystone, identity)
    name = unique("sdk")
    image = cloud.image.create_image(name=name, data=IMAGE_BYTES, disk_format="raw",
                                     container_format="bare", wait=True)
    assert cloud.image.get_image(image.id).status == "active"
    assert cloud.image.download_image(image.id).content == IMAGE_BYTES
    # The real Glance holds it, and every image call went through the broker.
    direct = glance_sdk(glance_chain.keystone).image.get_image(image.id)
    assert (direct.name, direct.status, direct.size) == (name, "active", len(IMAGE_BYTES))
    log = glance_chain.broker.stdout_path.read_text()
    assert f"/api/multicloud/v0/{VIMID}/image/v2/images/{image.id}/file" in log
    cloud.image.delete_image(image.id)
    assert list(glance_sdk(glance_chain.keystone).image.images(name=name)) == []


# ------------------------------------- the simulator's Glance and the real one

# Requests whose answers the simulator must give as Glance does: error
# shapes in each media type, messages, a page's links. {queued} is an image
# without data, {missing} an id no image has, {name} the queued image's name.
ACCEPT_JSON = {"Accept": "application/json"}
SAME_ANSWERS = {
    "unknown image, JSON": ("GET", "/v2/images/{missing}", ACCEPT_JSON, None),
    "unknown image, HTML": ("GET", "/v2/images/{missing}", {"Accept": "*/*"}, None),
    "unknown image, text": ("GET", "/v2/images/{missing}", {"Accept": "text/plain"}, None),
    "unknown marker": ("GET", "/v2/images?marker={missing}", ACCEPT_JSON, None),
    "delete of an unknown image": ("DELETE", "/v2/images/{missing}", ACCEPT_JSON, None),
    "data sent as JSON": ("PUT", "/v2/images/{queued}/file",
                          {"Content-Type": "application/json"}, b"{}"),
    "patch sent as JSON": ("PATCH", "/v2/images/{queued}",
                           {"Content-Type": "application/json", **ACCEPT_JSON}, b"[]"),
    "a read-only attribute": ("POST", "/v2/images", {"Content-Type": "application/json",
                                                     **ACCEPT_JSON},
                              b'{"name": "x", "status": "active"}'),
    "no data yet": ("GET", "/v2/images/{queued}/file", {}, None),
    "a page of one": ("GET", "/v2/images?name={name}&limit=1", {}, None),
}


@pytest.fixture(scope="module")
def both_glances(glance: LocalGlance, openstack_sim: OpenStackSim) -> Iterator[dict]:
    """The real Glance and the simulator's, each holding a queued image of one name."""
    session = glance.keystone.admin_session()
    name = unique("same")
    bases = {"real": glance.url, "simulator": f"{openstack_sim.url}/image"}
    queued = {label: session.post(f"{base}/v2/images", json={
        "name": name, "disk_format": "raw", "container_format": "bare"}).json()["id"]
        for label, base in bases.items()}
    yield {"bases": bases, "queued": queued, "name": name}
    for label, base in bases.items():
        session.delete(f"{base}/v2/images/{queued[label]}", raise_exc=False)


def answer_of(glance: LocalGlance, both: dict, label: str, case: str) -> tuple:
    """Status, media type and body of one case, the ids made the same."""
    method, path, headers, body = SAME_ANSWERS[case]
    missing = "9b1f7c2e-5d3a-4e8f-a6b0-1c2d3e4f5a6b"
    path = path.format(missing=missing, queued=both["queued"][label], name=both["name"])
    answer = glance.keystone.admin_session().request(
        both["bases"][label] + path, method, headers=headers, data=body, raise_exc=False)
    text = answer.text.replace(both["queued"][label], "{queued}")
    media_type = answer.headers.get("Content-Type", "").split(";")[0] if text else ""
    return answer.status_code, media_type, json.loads(text) if "json" in media_type else text


@pytest.mark.parametrize("case", sorted(SAME_ANSWERS))
def test_the_simulator_answers_as_glance_does(glance: LocalGlance, both_glances: dict,
                                             case: str) -> None:
    real = answer_of(glance, both_glances, "real", case)
    simulated = answer_of(glance, both_glances, "simulator", case)
    if case == "a page of one":  # the images themselves differ in key order only
        real[2]["images"] = simulated[2]["images"] = None
    assert simulated == real


def test_the_simulator_refuses_a_missing_token_as_glance_does(both_glances: dict) -> None:
    answers = [requests.get(f"{base}/v2/images", headers=ACCEPT_JSON, timeout=10)
               for base in both_glances["bases"].values()]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["WWW-Authenticate"] == answers[1].headers["WWW-Authenticate"]


def test_the_simulator_lists_glances_versions(both_glances: dict) -> None:
    documents = [requests.get(f"{base}/versions", timeout=10).json()["versions"]
                 for base in both_glances["bases"].values()]
    real, simulated = ([(v["id"], v["status"]) for v in doc] for doc in documents)
    assert simulated == real

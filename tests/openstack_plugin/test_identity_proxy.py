"""OpenStack's own clients through MultiCloud: openstacksdk and the
`openstack` command, pointed at the broker's identity URL for the region,
authenticate with the region's Keystone and then reach Nova, Neutron and
Glance only through the broker and the plugin's service proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from openstack import connection

from tests.openstack_plugin.conftest import VIMID, Chain, admin_sdk
from tests.support.client import request

AUTH = {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": None}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}


def identity_url(chain: Chain) -> str:
    return f"{chain.broker.url}/api/multicloud/v0/{VIMID}/identity/v3"


def through_broker(chain: Chain) -> connection.Connection:
    return admin_sdk(chain.keystone, identity_url(chain))


def test_a_token_comes_back_with_the_catalog_pointing_through_the_broker(chain: Chain) -> None:
    body = json.loads(json.dumps(AUTH))
    body["auth"]["identity"]["password"]["user"]["password"] = chain.keystone.admin_password
    reply = request(chain.broker.url, "POST", chain.v0("identity/v3/auth/tokens"),
                    body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert reply.status == 201, reply
    assert reply.header("X-Subject-Token")
    urls = [e["url"] for s in reply.json()["token"]["catalog"] for e in s["endpoints"]]
    assert urls and all(u.startswith(f"{chain.broker.url}/api/multicloud/v0/{VIMID}/")
                        for u in urls), urls
    assert chain.sim.url not in json.dumps(reply.json())


def test_a_wrong_password_is_keystones_401(chain: Chain) -> None:
    body = json.loads(json.dumps(AUTH))
    body["auth"]["identity"]["password"]["user"]["password"] = "wrong"
    reply = request(chain.broker.url, "POST", chain.v0("identity/v3/auth/tokens"),
                    body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert reply.status == 401


def test_openstacksdk_works_unchanged_through_multicloud(chain: Chain, tmp_path: Path) -> None:
    before = chain.sim.count()
    cloud = through_broker(chain)
    name = f"sdk-{uuid.uuid4().hex[:6]}"
    net = cloud.network.create_network(name=name)
    assert [n.id for n in cloud.network.networks(name=name)] == [net.id]
    assert isinstance(list(cloud.compute.servers()), list)
    data = os.urandom(5000)
    image = cloud.image.create_image(name=name, data=data, disk_format="raw",
                                     container_format="bare", wait=True)
    assert cloud.image.get_image(image.id).status == "active"
    assert cloud.image.download_image(image.id).content == data
    cloud.image.delete_image(image.id)
    cloud.network.delete_network(net.id)
    assert list(cloud.network.networks(name=name)) == []
    after = chain.sim.count()
    assert after["network"] > before["network"] and after["image"] > before["image"]
    # Every service call went through the broker: its access log has them.
    log = chain.broker.stdout_path.read_text()
    assert f"/api/multicloud/v0/{VIMID}/network/" in log and "/image/" in log


def test_the_openstack_command_works_through_multicloud(chain: Chain, tmp_path: Path) -> None:
    ks = chain.keystone
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(tmp_path), "OS_AUTH_URL": identity_url(chain),
           "OS_USERNAME": ks.admin_user, "OS_PASSWORD": ks.admin_password,
           "OS_PROJECT_NAME": ks.admin_project, "OS_USER_DOMAIN_NAME": "Default",
           "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": ks.region,
           "OS_IDENTITY_API_VERSION": "3"}
    name = f"osc-{uuid.uuid4().hex[:6]}"
    image_file = tmp_path / "disk.raw"
    image_file.write_bytes(os.urandom(3000))
    # One `openstack` process (its interactive shell reads the commands from
    # stdin): it starts in seconds, each command then in milliseconds.
    commands = [
        f"network create {name} -f value -c name",
        "network list -f value -c Name",
        "server list -f value -c ID",
        f"image create --file {image_file} --disk-format raw --container-format bare "
        f"{name} -f value -c status -c size",
        f"network delete {name}",
        "network list -f value -c Name",
    ]
    done = subprocess.run(["openstack"], input="\n".join(commands) + "\n", env=env,
                          capture_output=True, text=True, timeout=120)
    # (its interactive shell ends with status 1 at the end of its input)
    assert "Error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.split()
    # created (1), listed (2), gone from the last list: two lines name it
    assert lines.count(name) == 2, done.stdout
    assert "active" in lines and "3000" in lines, done.stdout

"""Networks, subnets, ports, servers, flavors, images and volumes."""

import hashlib

import pytest


def create_network(region, name="net1"):
    resp = region.post(region.t("/networks"), {"name": name, "shared": False})
    assert resp.status == 202, resp.data
    return resp.json()


def create_subnet(region, network_id, cidr="10.0.0.0/24", name="sub1"):
    resp = region.post(region.t("/subnets"), {"name": name, "networkId": network_id,
                                              "cidr": cidr, "ipVersion": 4})
    assert resp.status == 202, resp.data
    return resp.json()


def create_port(region, network_id, name="port1"):
    resp = region.post(region.t("/ports"), {"name": name, "networkId": network_id})
    assert resp.status == 202, resp.data
    return resp.json()


def boot(region, name, ports=(), flavor="m1.small", **extra):
    body = {"name": name, "flavorId": region.flavor(flavor)["id"],
            "boot": {"type": 2, "imageId": region.image()["id"]},
            "nicArray": [{"portId": p} for p in ports], **extra}
    return region.post(region.t("/servers"), body)


@pytest.mark.parametrize("kind,body,field", [
    ("networks", {"shared": False}, "name"),
    ("networks", {"name": "n"}, "shared"),
    ("subnets", {"name": "s", "cidr": "10.0.0.0/24", "ipVersion": 4}, "networkId"),
    ("ports", {"name": "p"}, "networkId"),
    ("servers", {"name": "s", "flavorId": "x"}, "boot"),
    ("flavors", {"name": "f", "vcpu": 1, "memory": 512}, "disk"),
    ("images", {"name": "i", "imageType": "qcow2", "containerFormat": "bare"}, "imagePath"),
    ("volumes", {"name": "v"}, "volumeSize"),
])
def test_missing_mandatory_field_is_400_naming_it(region, kind, body, field):
    resp = region.post(region.t(f"/{kind}"), body)
    assert resp.status == 400
    assert field in resp.json()["error"]


@pytest.mark.parametrize("kind,body", [
    ("networks", {"name": "n", "shared": "maybe"}),
    ("networks", {"name": "n", "shared": True, "networkType": "token-ring"}),
    ("flavors", {"name": "f", "vcpu": "two", "memory": 512, "disk": 1}),
    ("images", {"name": "i", "imagePath": "/x", "imageType": "exe", "containerFormat": "bare"}),
    ("volumes", {"name": "v", "volumeSize": 0}),
])
def test_bad_field_values_are_400(region, kind, body):
    resp = region.post(region.t(f"/{kind}"), body)
    assert resp.status == 400
    assert resp.json()["error"]


def test_body_must_be_a_json_object(region):
    assert region.post(region.t("/networks"), ["a", "list"]).status == 400
    resp = region.call("POST", region.t("/networks"), raw=b"",
                       headers={"Content-Type": "application/json"})
    assert resp.status == 400


def test_network_create_get_list_delete(region):
    net = create_network(region, "oam")
    assert net["returnCode"] == 1
    assert net["status"] == "ACTIVE"
    assert net["vimId"] == region.vimid and net["tenantId"] == region.tenant
    got = region.get(region.t(f"/networks/{net['id']}")).json()
    assert got["name"] == "oam" and got["shared"] is False
    listed = region.get(region.t("/networks?name=oam")).json()["networks"]
    assert [n["id"] for n in listed] == [net["id"]]
    assert region.delete(region.t(f"/networks/{net['id']}")).status == 204
    assert region.get(region.t(f"/networks/{net['id']}")).status == 404


def test_creating_an_existing_name_returns_it_with_return_code_0(region):
    first = create_network(region, "dup")
    again = region.post(region.t("/networks"), {"name": "dup", "shared": True})
    assert again.status == 202
    assert again.json()["returnCode"] == 0
    assert again.json()["id"] == first["id"]
    assert len(region.get(region.t("/networks?name=dup")).json()["networks"]) == 1


def test_v1_answers_carry_owner_and_region(region):
    net = region.post(region.t("/networks", "v1"), {"name": "v1net", "shared": False}).json()
    assert net["cloud-owner"] == region.owner
    assert net["cloud-region-id"] == region.region_id
    # Both API versions see the same region.
    assert region.get(region.t(f"/networks/{net['id']}")).status == 200


def test_unknown_ids_are_404(region):
    for kind in ("networks", "subnets", "ports", "servers", "flavors", "images", "volumes"):
        assert region.get(region.t(f"/{kind}/no-such-id")).status == 404
        assert region.delete(region.t(f"/{kind}/no-such-id")).status == 404
    assert region.get(region.v0 + "/no-such-tenant/networks").status == 404
    resp = region.post(region.t("/subnets"), {"name": "s", "networkId": "no-such-net",
                                              "cidr": "10.0.0.0/24", "ipVersion": 4})
    assert resp.status == 404
    assert "no-such-net" in resp.json()["error"]


def test_subnet_rules(region):
    net = create_network(region)
    base = {"name": "s", "networkId": net["id"], "ipVersion": 4}
    assert region.post(region.t("/subnets"), {**base, "cidr": "10.0.0.0/33"}).status == 400
    assert region.post(region.t("/subnets"), {**base, "cidr": "fd00::/64"}).status == 400
    sub = create_subnet(region, net["id"])
    assert sub["gatewayIp"] == "10.0.0.1"
    assert sub["networkName"] == "net1"


def test_ports_get_addresses_and_servers_go_build_to_active(region):
    net = create_network(region)
    create_subnet(region, net["id"], "192.168.5.0/24")
    ports = [create_port(region, net["id"], f"p{i}") for i in range(2)]
    assert [p["ip"] for p in ports] == ["192.168.5.2", "192.168.5.3"]
    assert ports[0]["status"] == "DOWN"

    resp = boot(region, "vm1", [p["id"] for p in ports])
    assert resp.status == 202
    server = resp.json()
    assert server["returnCode"] == 1 and server["status"] == "BUILD"
    region.wait_server(server["id"], "ACTIVE")
    port = region.get(region.t(f"/ports/{ports[0]['id']}")).json()
    assert port["status"] == "ACTIVE" and port["deviceId"] == server["id"]

    # A bound port can serve no second server, and the busy network stays.
    assert boot(region, "vm2", [ports[0]["id"]]).status == 409
    assert region.delete(region.t(f"/networks/{net['id']}")).status == 409
    assert region.delete(region.t(f"/ports/{ports[0]['id']}")).status == 409

    assert region.delete(region.t(f"/servers/{server['id']}")).status == 204
    for p in ports:
        assert region.delete(region.t(f"/ports/{p['id']}")).status == 204
    assert region.delete(region.t(f"/networks/{net['id']}")).status == 204


def test_server_references_must_exist(region):
    resp = region.post(region.t("/servers"), {
        "name": "vm", "flavorId": "nope", "boot": {"type": 2, "imageId": region.image()["id"]}})
    assert resp.status == 404 and "flavor" in resp.json()["error"]
    resp = region.post(region.t("/servers"), {
        "name": "vm", "flavorId": region.flavor("m1.tiny")["id"], "boot": {"type": 3}})
    assert resp.status == 400 and "boot.type" in resp.json()["error"]
    resp = boot(region, "vm", ["no-such-port"])
    assert resp.status == 404


def test_server_over_capacity_is_refused(region):
    resp = boot(region, "huge", flavor="m1.xlarge")  # 8 vCPUs of 16
    assert resp.status == 202
    resp = boot(region, "huge2", flavor="m1.xlarge")
    assert resp.status == 202
    resp = boot(region, "one-too-many", flavor="m1.tiny")
    assert resp.status == 403
    assert "cores" in resp.json()["error"]


def test_server_stop_and_start(region):
    server = boot(region, "vm").json()
    region.wait_server(server["id"], "ACTIVE")
    action = region.t(f"/servers/{server['id']}/action")
    assert region.post(action, {"os-stop": None}).status == 202
    assert region.get(region.t(f"/servers/{server['id']}")).json()["status"] == "SHUTOFF"
    assert region.post(action, {"os-stop": None}).status == 409
    assert region.post(action, {"os-start": None}).status == 202
    assert region.get(region.t(f"/servers/{server['id']}")).json()["status"] == "ACTIVE"


def test_flavor_create_and_duplicate(region):
    body = {"name": "volte.small", "vcpu": 2, "memory": 2048, "disk": 10,
            "extraSpecs": {"hw:mem_page_size": "large"}}
    first = region.post(region.t("/flavors"), body).json()
    assert first["returnCode"] == 1 and first["ephemeral"] == 0 and first["isPublic"] is True
    assert region.post(region.t("/flavors"), body).json()["returnCode"] == 0
    assert region.delete(region.t(f"/flavors/{first['id']}")).status == 204


def multipart(fields, file_name=None, file_data=b"", boundary="xYzBoUnDaRy"):
    lines = []
    for key, value in fields.items():
        lines += [f"--{boundary}", f'Content-Disposition: form-data; name="{key}"', "", value]
    body = "\r\n".join(lines).encode()
    if file_name is not None:
        body += (f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename=\"{file_name}\"\r\nContent-Type: application/octet-stream"
                 f"\r\n\r\n").encode() + file_data
    body += f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_image_upload_is_received_whole(region):
    # Larger than one read chunk, and containing the boundary's prefix.
    data = (b"\r\n--xYz" + bytes(range(256))) * 2000
    body, headers = multipart({"name": "vims-image", "imageType": "qcow2",
                               "containerFormat": "bare"}, "vims.qcow2", data)
    resp = region.call("POST", region.t("/images"), raw=body, headers=headers)
    assert resp.status == 202, resp.data
    image = resp.json()
    assert image["returnCode"] == 1 and image["status"] == "active"
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert region.get(region.t(f"/images/{image['id']}")).json()["size"] == len(data)


def test_image_upload_needs_file_and_fields(region):
    body, headers = multipart({"name": "x", "imageType": "qcow2", "containerFormat": "bare"})
    resp = region.call("POST", region.t("/images"), raw=body, headers=headers)
    assert resp.status == 400 and "file" in resp.json()["error"]
    body, headers = multipart({"name": "x", "imageType": "qcow2"}, "x.img", b"data")
    resp = region.call("POST", region.t("/images"), raw=body, headers=headers)
    assert resp.status == 400 and "containerFormat" in resp.json()["error"]
    resp = region.call("POST", region.t("/images"), raw=b"--xYzBoUnDaRy\r\ngarbage",
                       headers=headers)
    assert resp.status == 400


def test_image_from_path_and_listing_pages(region):
    resp = region.post(region.t("/images"), {"name": "from-path", "imagePath": "/img/x.qcow2",
                                             "imageType": "qcow2", "containerFormat": "bare"})
    assert resp.status == 202
    images = region.get(region.t("/images")).json()["images"]
    assert len(images) == 3
    page = region.get(region.t(f"/images?limit=1&marker={images[0]['id']}")).json()["images"]
    assert [i["id"] for i in page] == [images[1]["id"]]


def test_volumes_attach_to_servers(region):
    vol = region.post(region.t("/volumes"), {"name": "data", "volumeSize": 10}).json()
    assert vol["status"] == "available" and vol["returnCode"] == 1
    server = boot(region, "db", volumeArray=[{"volumeId": vol["id"]}]).json()
    got = region.get(region.t(f"/volumes/{vol['id']}")).json()
    assert got["status"] == "in-use"
    assert got["attachments"][0]["serverId"] == server["id"]
    assert region.delete(region.t(f"/volumes/{vol['id']}")).status == 409
    region.delete(region.t(f"/servers/{server['id']}"))
    assert region.delete(region.t(f"/volumes/{vol['id']}")).status == 204


def test_limits_and_hosts_follow_allocation(region):
    boot(region, "vm", flavor="m1.medium")
    limits = region.get(region.t("/limits")).json()
    assert limits["maxTotalCores"] == 16 and limits["totalCoresUsed"] == 2
    assert limits["totalRAMUsed"] == 4096
    hosts = region.get(region.t("/hosts")).json()["hosts"]
    assert {"name": "compute-0", "service": "compute", "zone": "nova"} in hosts
    host = region.get(region.t("/hosts/compute-0")).json()["host"]
    rows = {row["project"]: row for row in host}
    assert rows["(total)"]["cpu"] == 16 and rows["(used_now)"]["cpu"] == 2
    assert region.get(region.t("/hosts/nope")).status == 404

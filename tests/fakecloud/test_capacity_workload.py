"""capacity_check (v0 and v1) and the v1 infra_workload life cycle."""

import json
import time

import pytest
from fakecloud_support import Region


def capacity(fakecloud, path, body):
    return fakecloud.request("POST", path + "/capacity_check", body)


def test_capacity_check_v0_compares_with_totals(fakecloud):
    region = Region(fakecloud)
    resp = capacity(fakecloud, region.v0, {"vCPU": 16, "Memory": 32, "Storage": 500})
    assert resp.status == 200
    assert resp.json() == {"result": True}
    assert capacity(fakecloud, region.v0, {"vCPU": 17}).json() == {"result": False}
    assert capacity(fakecloud, region.v0, {"Memory": 32.5}).json() == {"result": False}
    assert capacity(fakecloud, region.v0, {}).json() == {"result": True}


def test_capacity_check_v1_lists_azs_and_subtracts_allocation(fakecloud):
    region = Region(fakecloud).login()
    flavor = region.flavor("m1.large")  # 4 vCPUs, 8 GB
    region.post(region.t("/servers"), {"name": "vm", "flavorId": flavor["id"],
                                       "boot": {"type": 2, "imageId": region.image()["id"]}})
    resp = capacity(fakecloud, region.v1, {"vCPU": 12, "Memory": 24, "Storage": 1})
    assert resp.status == 200
    body = resp.json()
    assert body["result"] is True
    az = body["AZs"][0]
    assert az["availability-zone-name"] == "nova"
    assert (az["vCPUTotal"], az["vCPUAvail"]) == (16, 12)
    assert az["MemoryAvail"] == 24
    assert capacity(fakecloud, region.v1, {"vCPU": 13}).json()["result"] is False


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"vCPU": "four"}',
                                 b'{"Memory": -1}'])
def test_capacity_check_rejects_bad_bodies(fakecloud, raw):
    region = Region(fakecloud)
    resp = fakecloud.request("POST", region.v0 + "/capacity_check", raw=raw,
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert resp.json()["error"]


def heat(flavor="m1.small", servers=1):
    resources = {"net": {"type": "OS::Neutron::Net", "properties": {"name": "n"}}}
    for i in range(servers):
        resources[f"vm{i}"] = {"type": "OS::Nova::Server", "properties": {
            "flavor": {"get_param": "flavor"}, "image": "cirros"}}
    return {"heat_template_version": "2016-10-14",
            "parameters": {"flavor": {"type": "string", "default": flavor}},
            "resources": resources}


def workload_body(name, **template_kw):
    return {"template_type": "heat",
            "template_data": {"stack_name": name, "template": heat(**template_kw)}}


def wait_status(region, workload_id, status):
    body = {}
    for _ in range(100):
        body = region.get(region.v1 + f"/infra_workload/{workload_id}").json()
        if body["workload_status"] == status:
            return body
        time.sleep(0.05)
    raise AssertionError(f"workload stayed {body.get('workload_status')}")


def test_workload_goes_in_progress_to_complete_then_is_deleted(region):
    resp = region.post(region.v1 + "/infra_workload", workload_body("stack1", servers=2))
    assert resp.status == 201
    created = resp.json()
    assert created["workload_status"] == "CREATE_IN_PROGRESS"
    wid = created["workload_id"]
    done = wait_status(region, wid, "CREATE_COMPLETE")
    assert done["workload_status_reason"]["resources"] == {
        "OS::Neutron::Net": 1, "OS::Nova::Server": 2}
    # Its servers count against capacity: 2 x m1.small = 2 of 16 vCPUs.
    assert capacity(region.cloud, region.v1, {"vCPU": 14}).json()["result"] is True
    assert capacity(region.cloud, region.v1, {"vCPU": 15}).json()["result"] is False
    # The stack name finds it too.
    assert region.get(region.v1 + "/infra_workload?name=stack1").json()["workload_id"] == wid
    assert region.delete(region.v1 + f"/infra_workload/{wid}").status == 204
    assert region.get(region.v1 + f"/infra_workload/{wid}").status == 404
    assert region.delete(region.v1 + f"/infra_workload/{wid}").status == 404


@pytest.mark.parametrize("body,field", [
    ({"template_data": {"stack_name": "s", "template": {}}}, "template_type"),
    ({"template_type": "heat"}, "template_data"),
    ({"template_type": "heat", "template_data": {"template": {}}}, "stack_name"),
    ({"template_type": "heat", "template_data": {"stack_name": "s"}}, "template"),
])
def test_workload_missing_fields_are_400(region, body, field):
    resp = region.post(region.v1 + "/infra_workload", body)
    assert resp.status == 400
    assert field in resp.json()["error"]


def test_workload_rules(region):
    assert region.post(region.v1 + "/infra_workload", workload_body("dup")).status == 201
    resp = region.post(region.v1 + "/infra_workload", workload_body("dup"))
    assert resp.status == 409
    resp = region.post(region.v1 + "/infra_workload", workload_body("bad", flavor="m9.nope"))
    assert resp.status == 400 and "m9.nope" in resp.json()["error"]
    # Three m1.xlarge need 24 vCPUs of 16: Heat would fail the stack.
    resp = region.post(region.v1 + "/infra_workload",
                       workload_body("big", flavor="m1.xlarge", servers=3))
    assert resp.status == 201
    failed = region.get(region.v1 + f"/infra_workload/{resp.json()['workload_id']}").json()
    assert failed["workload_status"] == "CREATE_FAILED"
    assert "cores" in failed["workload_status_reason"]["stack_status_reason"]
    # Without a token, nothing.
    resp = region.post(region.v1 + "/infra_workload", workload_body("x"), token="")
    assert resp.status == 401


def test_workload_as_a_form_with_a_yaml_template(region):
    template = ("heat_template_version: 2016-10-14\nresources:\n  vm:\n"
                "    type: OS::Nova::Server\n    properties: {flavor: m1.tiny}\n")
    boundary = "b0undary"
    parts = [("template_type", "heat"),
             ("template_data", json.dumps({"stack_name": "formstack"})),
             ("template", template)]
    raw = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in parts) + f"--{boundary}--\r\n".encode()
    resp = region.call("POST", region.v1 + "/infra_workload", raw=raw,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status == 201, resp.data
    done = wait_status(region, resp.json()["workload_id"], "CREATE_COMPLETE")
    assert done["workload_status_reason"]["resources"] == {"OS::Nova::Server": 1}

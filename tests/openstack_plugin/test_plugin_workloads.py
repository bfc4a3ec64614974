"""infra_workload through the broker and the OpenStack plugin to the
simulated Heat: what SO sees of a deployment from create to delete."""

from __future__ import annotations

import json
import time
import uuid

from tests.openstack_plugin.conftest import Chain
from tests.support.client import Reply, request

JSON = {"Content-Type": "application/json"}
POLL = 0.1
PATIENCE = 30  # polls are cheap; a stack of the simulator takes ~1 s
TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "parameters": {"net_name": {"type": "string"}},
    "resources": {"net": {"type": "OS::Neutron::Net",
                          "properties": {"name": {"get_param": "net_name"}}}},
    "outputs": {"net_id": {"value": {"get_resource": "net"}},
                "greeting": {"value": {"str_replace": {
                    "template": "hello NAME", "params": {"NAME": {"get_param": "net_name"}}}}}},
}


def call(chain: Chain, method: str, path: str, body: object = None) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    return request(chain.broker.url, method, path, body=data, headers=JSON if data else None)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def so_body(name: str, template: object = None, **data: object) -> dict:
    return {"template_type": "heat", "template_data": {
        "stack_name": name, "template": TEMPLATE if template is None else template,
        "parameters": {"net_name": name}, "files": {}, "environment": {}, **data}}


def wait_status(chain: Chain, path: str, *final: str) -> dict:
    """The workload once its status is one of `final` (or the last one seen)."""
    answer: dict = {}
    for _ in range(PATIENCE * int(1 / POLL)):
        reply = call(chain, "GET", path)
        assert reply.status == 200, reply
        answer = reply.json()
        if answer["workload_status"] in final:
            break
        time.sleep(POLL)
    return answer


def wait_gone(chain: Chain, path: str) -> int:
    status = 200
    for _ in range(PATIENCE * int(1 / POLL)):
        status = call(chain, "GET", path).status
        if status == 404:
            break
        time.sleep(POLL)
    return status


def test_a_stack_is_created_read_by_id_and_name_then_deleted(chain: Chain) -> None:
    name = unique("wl")
    created = call(chain, "POST", chain.v1("infra_workload"), so_body(name))
    assert created.status == 201, created
    answer = created.json()
    assert answer["workload_status"] == "CREATE_IN_PROGRESS"
    workload = answer["workload_id"]
    path = chain.v1(f"infra_workload/{workload}")

    done = wait_status(chain, path, "CREATE_COMPLETE", "CREATE_FAILED")
    assert done["workload_status"] == "CREATE_COMPLETE", done
    stack = done["workload_status_reason"]
    assert stack["stack_name"] == name and stack["stack_status_reason"]
    outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
    assert outputs["greeting"] == f"hello {name}"
    # The output names the network the stack made: it is there to be read.
    network = call(chain, "GET", chain.v1(f"{chain.tenant}/networks/{outputs['net_id']}"))
    assert network.status == 200 and network.json()["name"] == name

    by_name = call(chain, "GET", chain.v1(f"infra_workload?name={name}"))
    assert by_name.status == 200 and by_name.json()["workload_id"] == workload
    assert by_name.json()["workload_status"] == "CREATE_COMPLETE"

    deleted = call(chain, "DELETE", path)
    assert deleted.status == 202, deleted
    assert deleted.json()["workload_status"] == "DELETE_IN_PROGRESS"
    assert wait_gone(chain, path) == 404
    assert call(chain, "GET", chain.v1(f"{chain.tenant}/networks/{outputs['net_id']}")
                ).status == 404
    assert call(chain, "DELETE", path).status == 404


def test_a_stack_that_fails_says_why_with_heats_reason(chain: Chain) -> None:
    chain.sim.fault("stack_failed", reason="Resource CREATE failed: out of coffee")
    created = call(chain, "POST", chain.v0("infra_workload"), so_body(unique("wlf")))
    assert created.status == 201, created
    path = chain.v0(f"infra_workload/{created.json()['workload_id']}")
    failed = wait_status(chain, path, "CREATE_COMPLETE", "CREATE_FAILED")
    assert failed["workload_status"] == "CREATE_FAILED"
    assert failed["workload_status_reason"]["stack_status_reason"] == \
        "Resource CREATE failed: out of coffee"
    assert call(chain, "DELETE", path).status == 202
    assert wait_gone(chain, path) == 404


def test_heats_refusal_of_a_bad_template_reaches_the_caller(chain: Chain) -> None:
    template = {"heat_template_version": "2018-08-31",
                "resources": {"thing": {"type": "OS::No::Such"}}}
    reply = call(chain, "POST", chain.v1("infra_workload"), so_body(unique("bad"), template))
    assert reply.status == 400, reply
    assert "The Resource Type (OS::No::Such) could not be found" in reply.json()["error"]

    taken = unique("twice")
    assert call(chain, "POST", chain.v1("infra_workload"), so_body(taken)).status == 201
    again = call(chain, "POST", chain.v1("infra_workload"), so_body(taken))
    assert again.status == 409 and "already exists" in again.json()["error"]
    assert call(chain, "DELETE", chain.v1(f"infra_workload/{taken}")).status == 202


def test_requests_that_do_not_fit_name_the_field(chain: Chain) -> None:
    cases = [
        ({"template_type": "tosca", "template_data": {}}, "template_type"),
        ({"template_type": "heat"}, "template_data"),
        ({"template_type": "heat", "template_data": {"template": TEMPLATE}},
         "template_data.stack_name"),
        ({"template_type": "heat", "template_data": {"stack_name": "x"}},
         "template_data.template"),
        (so_body("x", parameters=[1]), "template_data.parameters"),
    ]
    for body, field in cases:
        reply = call(chain, "POST", chain.v1("infra_workload"), body)
        assert reply.status == 400, (body, reply)
        assert reply.json()["error"].startswith(field), reply.json()
    unknown = call(chain, "GET", chain.v1("infra_workload/no-such-stack"))
    assert unknown.status == 404 and "no-such-stack" in unknown.json()["error"]


def test_a_multipart_request_as_the_broker_forwards_it(chain: Chain) -> None:
    name = unique("form")
    boundary = uuid.uuid4().hex
    data = {"stack_name": name, "parameters": {"net_name": name}}
    parts = [("template_type", None, "HEAT"), ("template_data", None, json.dumps(data)),
             ("template", "net.yaml", json.dumps(TEMPLATE))]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"'.encode()
        + (f'; filename="{file}"'.encode() if file else b"")
        + f"\r\n\r\n{value}\r\n".encode()
        for field, file, value in parts) + f"--{boundary}--\r\n".encode()
    reply = request(chain.broker.url, "POST", chain.v1("infra_workload"), body=body,
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert reply.status == 201, reply
    path = chain.v1(f"infra_workload/{reply.json()['workload_id']}")
    done = wait_status(chain, path, "CREATE_COMPLETE", "CREATE_FAILED")
    assert done["workload_status"] == "CREATE_COMPLETE", done
    assert done["workload_status_reason"]["stack_name"] == name
    assert call(chain, "DELETE", path).status == 202

"""The Swagger 2.0 document of the declared API: valid, complete for v0 and
v1, and in agreement with the field mapping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import hypothesis
import jsonschema
import pytest
import schemathesis

from multicloud_broker.plugin import Resource, load_builtin, swagger_document

from . import openstack_docs as os_docs

PLUGIN = "multicloud-openstack"
V0 = f"/api/{PLUGIN}/v0/{{vimid}}"
V1 = f"/api/{PLUGIN}/v1/{{cloud_owner}}/{{cloud_region_id}}"
METHODS = {"list": ("", "get"), "create": ("", "post"), "get": ("/{id}", "get"),
           "delete": ("/{id}", "delete"), "update": ("/{id}", "put")}


@pytest.fixture(scope="module")
def resources() -> dict[str, Resource]:
    return load_builtin()


@pytest.fixture(scope="module")
def doc(resources) -> dict:
    return swagger_document(resources, PLUGIN)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict, ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_it_is_json_and_swagger_2(doc):
    assert json.loads(json.dumps(doc)) == doc
    assert doc["swagger"] == "2.0" and doc["basePath"] == "/"


def test_openapi_spec_validator_accepts_it(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc, cls=validator.OpenAPIV2SpecValidator)


def test_every_reference_resolves(doc):
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        _resolve(doc, ref)


def test_every_declared_operation_is_documented_in_both_versions(doc, resources):
    expected = set()
    for res in resources.values():
        for prefix in (V0, V1):
            base = f"{prefix}/{{tenantid}}" if res.scope == "tenant" else prefix
            id_param = re.sub(r"[^A-Za-z0-9]", "", res.singular + res.id_field)
            for op in res.operations:
                suffix, method = METHODS[op]
                if res.singleton:
                    suffix = ""
                expected.add((f"{base}/{res.name}{suffix.replace('{id}', f'{{{id_param}}}')}",
                              method))
    # Written in code, not declared (plugin/workloads.py, capacity.py, registry.py).
    for prefix in (V0, V1):
        expected |= {(f"{prefix}/infra_workload", "get"), (f"{prefix}/infra_workload", "post"),
                     (f"{prefix}/infra_workload/{{workload_id}}", "get"),
                     (f"{prefix}/infra_workload/{{workload_id}}", "post"),
                     (f"{prefix}/infra_workload/{{workload_id}}", "delete"),
                     (f"{prefix}/capacity_check", "post"),
                     (f"{prefix}/registry", "get"), (f"{prefix}/registry", "post"),
                     (prefix, "delete")}
    documented = {(path, method) for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    assert documented == expected
    assert (f"{V0}/tenants", "get") in documented
    assert (f"{V1}/{{tenantid}}/hosts/{{hostname}}", "get") in documented
    assert (f"{V0}/{{tenantid}}/limits", "get") in documented


def test_every_path_parameter_is_declared_with_a_pattern(doc):
    for path, item in doc["paths"].items():
        params = [p if "$ref" not in p else _resolve(doc, p["$ref"])
                  for p in item["parameters"]]
        names = {p["name"] for p in params if p["in"] == "path"}
        assert names == set(re.findall(r"\{([^}]+)\}", path)), path
        for p in params:
            re.compile(p["pattern"])
    assert doc["parameters"]["vimid"]["pattern"] == "^[^_/]+_[^/]+$"


def test_operation_ids_are_unique(doc):
    ids = [op["operationId"] for item in doc["paths"].values()
           for key, op in item.items() if key != "parameters"]
    assert len(ids) == len(set(ids))


def test_request_and_answer_schemas(doc):
    defs = doc["definitions"]
    create = defs["NetworksCreateRequest"]
    assert create["required"] == ["name", "shared"]
    assert create["properties"]["segmentationId"] == {"type": "integer", "minimum": 0,
                                                     "description": create["properties"][
                                                         "segmentationId"]["description"]}
    assert "id" not in create["properties"]  # read-only
    assert create["properties"]["networkName"]["description"] == "Same as name"
    assert defs["FlavorsCreateRequest"]["properties"]["isPublic"]["default"] is True
    listing = defs["NetworksList"]
    assert listing["required"] == ["vimId", "tenantId", "networks"]
    assert {"vimId", "vimName", "tenantId", "networks"} <= set(listing["properties"])
    created = defs["NetworksCreated"]
    assert created["properties"]["returnCode"]["enum"] == [0, 1]
    assert "returnCode" in created["required"]
    assert defs["TenantsList"]["required"] == ["vimId", "tenants"]  # region scope
    assert "userdata" not in defs["ServersItem"]["properties"]  # write-only
    assert defs["ServersCreateRequest"]["properties"]["boot"]["required"] == ["type"]
    assert defs["Error"]["required"] == ["error"]
    post = doc["paths"][f"{V0}/{{tenantid}}/networks"]["post"]
    assert set(post["responses"]) == {"200", "202", "400", "404", "default"}
    assert _resolve(doc, post["responses"]["400"]["$ref"])["schema"] == {
        "$ref": "#/definitions/Error"}


ANSWERS = [("networks", os_docs.NETWORK), ("subnets", os_docs.SUBNET),
           ("ports", os_docs.PORT), ("images", os_docs.IMAGE), ("flavors", os_docs.FLAVOR),
           ("volumes", os_docs.VOLUME), ("servers", os_docs.SERVER),
           ("hosts", os_docs.HYPERVISOR), ("tenants", os_docs.PROJECT),
           ("limits", os_docs.NOVA_LIMITS)]


@pytest.mark.parametrize("name,cloud_doc", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_answers_made_from_cloud_documents_fit_the_schemas(doc, resources, name, cloud_doc):
    res = resources[name]
    envelope: dict[str, Any] = {"vimId": "CloudOwner_RegionOne", "vimName": "RegionOne"}
    if res.scope == "tenant":
        envelope["tenantId"] = os_docs.TENANT
    item = res.from_cloud(cloud_doc)
    camel = name.capitalize()

    def check(value: Any, definition: str) -> None:
        schema = {**doc["definitions"][definition], "definitions": doc["definitions"]}
        jsonschema.Draft4Validator(schema).validate(value)

    check({**envelope, **item}, f"{camel}Answer")
    if "list" in res.operations:
        check({**envelope, res.list_key: [item, item]}, f"{camel}List")
    if "create" in res.operations:
        check({**envelope, **item, "returnCode": 1}, f"{camel}Created")


def _operations(doc: dict) -> dict[tuple[str, str], Any]:
    schema = schemathesis.openapi.from_dict(doc)
    return {(op.method, op.path): op for op in (r.ok() for r in schema.get_all_operations())}


def test_schemathesis_loads_every_operation(doc):
    ops = _operations(doc)
    assert len(ops) == sum(len([m for m in item if m != "parameters"])
                           for item in doc["paths"].values())


@pytest.mark.parametrize("name", ["networks", "subnets", "ports", "images", "flavors",
                                  "volumes", "servers"])
def test_every_body_the_schema_allows_is_accepted(doc, resources, name):
    """A fuzzer's bodies, made from the request schema, pass to_cloud; and
    the generated path parameters fit the patterns."""
    op = _operations(doc)[("post", f"{V1}/{{tenantid}}/{name}")]
    res = resources[name]

    @hypothesis.settings(max_examples=25, database=None, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(op.as_strategy())
    def check(case: Any) -> None:
        res.to_cloud(case.body)
        assert re.fullmatch(r"[^_/]+", case.path_parameters["cloud_owner"])

    check()


def test_a_bad_plugin_name_is_refused(resources):
    with pytest.raises(ValueError):
        swagger_document(resources, "multi/cloud")

"""Endpoints the broker answers itself: vim_types, swagger.json and check_vim_capacity
(API.md, first table), and what the Swagger document says of every path."""

from __future__ import annotations

import re
from urllib.parse import quote

import jsonschema_rs
import pytest
# The Swagger 2.0 meta-schema; schemathesis (a test dependency) ships a copy.
from schemathesis.specs.openapi.definitions import SWAGGER_20

from tests.support.broker import BrokerProcess
from tests.support.contract import assert_json_error, call
from tests.support.regions import DEFAULT_VIM_TYPES, OCATA
from tests.support.upstreams import PluginServer


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_vim_types_lists_the_default_catalog(broker: BrokerProcess, version: str) -> None:
    reply = call(broker.url, "GET", f"/api/multicloud/{version}/vim_types")
    assert reply.status == 200, reply
    assert reply.content_type == "application/json"
    assert reply.json() == DEFAULT_VIM_TYPES


@pytest.mark.parametrize("version", ["v0", "v1"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_vim_types_other_methods_are_405(broker: BrokerProcess, version: str,
                                        method: str) -> None:
    reply = call(broker.url, method, f"/api/multicloud/{version}/vim_types",
                 json_body={"vim_type": "x"} if method != "DELETE" else None)
    assert_json_error(reply, 405)
    assert "GET" in reply.allow(), reply
    assert method not in reply.allow(), reply


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_swagger_json_is_a_valid_swagger_2_document(broker: BrokerProcess,
                                                   version: str) -> None:
    reply = call(broker.url, "GET", f"/api/multicloud/{version}/swagger.json")
    assert reply.status == 200, reply
    assert reply.content_type == "application/json"
    doc = reply.json()
    assert doc["swagger"] == "2.0"
    # Against the Swagger 2.0 meta-schema (the copy schemathesis ships).
    errors = [str(e) for e in jsonschema_rs.Draft4Validator(SWAGGER_20).iter_errors(doc)]
    assert errors == [], errors[:5]


def test_both_swagger_paths_serve_one_document(broker: BrokerProcess) -> None:
    v0 = call(broker.url, "GET", "/api/multicloud/v0/swagger.json")
    v1 = call(broker.url, "GET", "/api/multicloud/v1/swagger.json")
    assert v0.status == v1.status == 200
    assert v0.body == v1.body


def _swagger(broker: BrokerProcess) -> dict:
    reply = call(broker.url, "GET", "/api/multicloud/v0/swagger.json")
    assert reply.status == 200, reply
    return reply.json()


def _resolved(doc: dict, item: dict) -> dict:
    """`item`, or what its local `$ref` ("#/responses/X") points to."""
    ref = item.get("$ref")
    if ref is None:
        return item
    kind, name = ref.removeprefix("#/").split("/")
    return doc[kind][name]


def _parameters(doc: dict, operation: dict) -> list[dict]:
    return [_resolved(doc, p) for p in operation["parameters"]]


def _responses(doc: dict, operation: dict) -> dict[str, dict]:
    return {status: _resolved(doc, r) for status, r in operation["responses"].items()}


# Every path the API serves, with its methods, as a client writes it (API.md).
_VIM0 = "/api/multicloud/v0/{vimid}"
_VIM1 = "/api/multicloud/v1/{cloud_owner}/{cloud_region_id}"
_ANY = {"get", "post", "put", "patch", "delete", "head"}
EXPECTED_PATHS = {
    "/api/multicloud/v0/vim_types": {"get"}, "/api/multicloud/v1/vim_types": {"get"},
    "/api/multicloud/v0/swagger.json": {"get"}, "/api/multicloud/v1/swagger.json": {"get"},
    "/api/multicloud/v0/check_vim_capacity": {"post"},
    "/api/multicloud/v1/check_vim_capacity": {"post"},
    **{vim + suffix: methods for vim in (_VIM0, _VIM1) for suffix, methods in (
        ("", {"delete"}), ("/registry", {"get", "post"}),
        ("/identity/v3", {"get", "post"}), ("/identity/v3/auth/tokens", {"get", "post"}),
        ("/extensions", {"get"}), ("/{rest}", _ANY))},
    _VIM1 + "/infra_workload": {"get", "post", "delete"},
    _VIM1 + "/infra_workload/{rest}": {"get", "post", "delete"},
    "/healthz": {"get"}, "/readyz": {"get"}, "/metrics": {"get"},
}


def test_swagger_lists_every_path_and_method(broker: BrokerProcess) -> None:
    doc = _swagger(broker)
    assert doc["basePath"] == "/"
    assert {path: set(item) for path, item in doc["paths"].items()} == EXPECTED_PATHS


def test_swagger_types_the_path_parameters(broker: BrokerProcess) -> None:
    doc = _swagger(broker)
    patterns = {}
    for item in doc["paths"].values():
        for operation in item.values():
            for param in _parameters(doc, operation):
                if param["in"] == "path":
                    assert param["required"] is True and param["type"] == "string", param
                    patterns.setdefault(param["name"], set()).add(param["pattern"])
    assert set(patterns) == {"vimid", "cloud_owner", "cloud_region_id", "rest"}
    assert all(len(found) == 1 for found in patterns.values()), patterns
    (vimid,), (owner,), (region,), (rest,) = (patterns[n] for n in (
        "vimid", "cloud_owner", "cloud_region_id", "rest"))
    # What core/vimid.py accepts: the owner has no "_", the vim id splits at the first.
    assert re.fullmatch(vimid, "CloudOwner_Region_One")
    assert re.fullmatch(vimid, "owner-two_region-2")
    for bad in ("CloudOwner", "_Region", "Cloud.Owner_R", "vim_types", "check_vim_capacity"):
        assert not re.fullmatch(vimid, bad), bad
    assert re.fullmatch(owner, "owner-two") and not re.fullmatch(owner, "Cloud_Owner")
    assert re.fullmatch(region, "Region_One") and not re.fullmatch(region, "Region.One")
    # {rest} is one segment that no fixed route claims, and never a dot-segment.
    assert re.fullmatch(rest, "tenants") and re.fullmatch(rest, "a1.b_c~d-e")
    for bad in ("registry", "extensions", "infra_workload", ".", "..", "a/b", ""):
        assert not re.fullmatch(rest, bad), bad
    # The document says what the broker does: a name it allows (as its client
    # means it, percent-encoded on the wire) is forwarded, one it does not is 400.
    for name in ("caf\u00e9", "a b", "%41", "%zz", "%2541", "%252541", "a%2Fb", "%252F",
                 "%5c", "%2e%2e", ".%2E", "%0A", "%7f", "%25252541"):
        reply = call(broker.url, "GET", f"{OCATA.v0}/{quote(name, safe='')}")
        assert reply.status == (200 if re.fullmatch(rest, name) else 400), (name, reply)


def test_swagger_describes_the_broker_s_own_answers(broker: BrokerProcess) -> None:
    doc = _swagger(broker)
    definitions, paths = doc["definitions"], doc["paths"]
    assert definitions["Error"]["required"] == ["error"]
    assert definitions["Error"]["properties"]["error"]["type"] == "string"
    for version in ("v0", "v1"):
        base = f"/api/multicloud/{version}"
        vim_types = _responses(doc, paths[f"{base}/vim_types"]["get"])
        assert vim_types["200"]["schema"] == {"$ref": "#/definitions/VimTypes"}
        capacity = paths[f"{base}/check_vim_capacity"]["post"]
        (body,) = [p for p in _parameters(doc, capacity) if p["in"] == "body"]
        assert body["required"] is True
        name = f"CapacityRequest{version.upper()}"
        assert body["schema"] == {"$ref": f"#/definitions/{name}"}
        # The default [plugins] capacity_max_vims of the broker under test.
        assert definitions[name]["properties"]["VIMs"]["maxItems"] == 100
        assert definitions[name]["required"] == ["VIMs"]
        answers = _responses(doc, capacity)
        assert answers["200"]["schema"] == {
            "$ref": f"#/definitions/CapacityAnswer{version.upper()}"}
        assert {"400", "413"} <= set(answers)
        assert answers["400"]["schema"] == {"$ref": "#/definitions/Error"}
    answer_v1 = definitions["CapacityAnswerV1"]["properties"]["VIMs"]["items"]
    assert set(answer_v1["required"]) == {"cloud-owner", "cloud-region-id", "AZs"}


def test_swagger_forwarded_calls_answer_as_the_plugin_or_with_an_error(
        broker: BrokerProcess) -> None:
    doc = _swagger(broker)
    for path, item in doc["paths"].items():
        if "{vimid}" not in path and "{cloud_owner}" not in path:
            continue
        for method, operation in item.items():
            answers = _responses(doc, operation)
            assert "default" in answers and "schema" not in answers["default"], (path, method)
            for status in ("400", "404", "413", "502", "503", "504"):
                assert answers[status]["schema"] == {"$ref": "#/definitions/Error"}, (
                    path, method, status)
            assert "produces" not in operation  # the plugin's media type


def test_swagger_documents_the_transaction_id_on_every_answer(broker: BrokerProcess) -> None:
    doc = _swagger(broker)
    for path, item in doc["paths"].items():
        forwarded = "{vimid}" in path or "{cloud_owner}" in path
        for method, operation in item.items():
            names = [p["name"] for p in _parameters(doc, operation) if p["in"] == "header"]
            assert names == ["X-TransactionID"], (path, method)
            for status, answer in _responses(doc, operation).items():
                header = answer["headers"]["X-TransactionID"]
                assert header["x-required"] is True, (path, method, status)
                # The broker's own answers carry its token; a plugin may set another.
                assert ("pattern" in header) != forwarded, (path, method, status)


def test_swagger_describes_the_health_endpoints(broker: BrokerProcess) -> None:
    doc = _swagger(broker)
    healthz = _responses(doc, doc["paths"]["/healthz"]["get"])
    assert healthz["200"]["schema"] == {"$ref": "#/definitions/Health"}
    readyz = _responses(doc, doc["paths"]["/readyz"]["get"])
    assert readyz["200"]["schema"] == readyz["503"]["schema"] == {
        "$ref": "#/definitions/Readiness"}
    for path, name in (("/healthz", "Health"), ("/readyz", "Readiness")):
        reply = call(broker.url, "GET", path)
        schema = {**doc["definitions"][name], "definitions": doc["definitions"]}
        assert reply.status == 200, reply
        assert jsonschema_rs.Draft4Validator(schema).is_valid(reply.json()), reply


def test_swagger_examples_match_the_documented_shapes(broker: BrokerProcess) -> None:
    """The examples a fuzzer starts from are valid (the check is the meta-schema's
    and the patterns', the same a client would make)."""
    doc = _swagger(broker)
    for name in ("CapacityRequestV0", "CapacityRequestV1"):
        schema = {**doc["definitions"][name], "definitions": doc["definitions"]}
        example = schema.pop("example")
        assert jsonschema_rs.Draft4Validator(schema).is_valid(example), name
    for item in doc["paths"].values():
        for operation in item.values():
            for param in _parameters(doc, operation):
                if "x-example" in param:
                    assert re.fullmatch(param["pattern"], param["x-example"]), param


@pytest.mark.parametrize("media_type", ["multipart/form-data", "application/x-www-form-urlencoded",
                                        "application/json; charset=nonsense", "text/plain"])
def test_check_vim_capacity_reads_json_whatever_the_media_type(
        broker: BrokerProcess, media_type: str) -> None:
    """Found by schemathesis: under Pecan, a multipart type without a boundary
    made WebOb fail parsing a body Pecan never needed (500)."""
    reply = call(broker.url, "POST", "/api/multicloud/v0/check_vim_capacity",
                 body=b'{"vCPU": 1, "VIMs": []}', headers={"Content-Type": media_type})
    assert reply.status == 200, reply
    assert reply.json() == {"VIMs": []}


def test_forwarded_call_keeps_an_unparseable_media_type(
        broker: BrokerProcess, plugin: PluginServer) -> None:
    reply = call(broker.url, "POST", OCATA.v0 + "/servers", body=b"--x\r\n",
                 headers={"Content-Type": "multipart/form-data"})
    assert reply.status == 200, reply
    (received,) = plugin.requests_to(OCATA.plugin_v0 + "/servers", "POST")
    assert received.headers["Content-Type"] == "multipart/form-data"
    assert received.body == b"--x\r\n"


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_check_vim_capacity_other_methods_are_405(broker: BrokerProcess,
                                                 version: str) -> None:
    reply = call(broker.url, "GET", f"/api/multicloud/{version}/check_vim_capacity")
    assert_json_error(reply, 405)
    assert "POST" in reply.allow(), reply
    assert "GET" not in reply.allow(), reply

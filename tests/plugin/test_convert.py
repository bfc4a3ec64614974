"""The field mapping, both ways, on a declaration that uses every feature."""

from __future__ import annotations

import pytest

from multicloud_broker.plugin import RequestError, SourcePath, parse_declaration

DECLARATION = """
resource: widgets
singular: widget
operations: [list, get, create, delete, update]
cloud:
  service: example
  path: /v1/widgets
  list_key: widgets
  item_key: widget
fields:
  name: {type: string, source: name, required: true, aliases: [widgetName]}
  id: {type: string, source: id, read_only: true}
  size: {type: integer, source: "spec:size", minimum: 1, maximum: 64, default: 4}
  ratio: {type: number, source: tuning.ratio}
  enabled: {type: boolean, source: flags.enabled, default: true}
  color: {type: string, source: color, enum: [red, green], answer_default: null}
  kind: {type: string, source: kind, default: plain, answer_default: unknown}
  zone: {type: string, source: location.zone, create_source: zone_hint}
  secret: {type: string, source: secret, write_only: true}
  plan: {type: string, create_source: null, source: billing.plan}
  origin: {type: string, read_only: true, default: factory}
  firstAddr: {type: string, source: "addrs[0].ip"}
  secondAddr: {type: string, source: "addrs[1].ip"}
  labels:
    type: array
    source: labels
    pairs: {key: keyName, value: value}
  tags:
    type: array
    source: tags
    items: {type: string, source: label}
  ports:
    type: array
    source: ports
    items:
      type: object
      fields:
        number: {type: integer, source: port, required: true, minimum: 1}
        proto: {type: string, source: protocol, enum: [tcp, udp], default: tcp}
  matrix:
    type: array
    source: matrix
    items: {type: array, items: {type: integer}}
  owner:
    type: object
    source: owner
    fields:
      id: {type: string, source: uuid, required: true}
      mail: {type: string, source: contact.mail}
  blob: {type: object, source: blob}
  note: {type: string}
"""


@pytest.fixture(scope="module")
def res():
    return parse_declaration(DECLARATION, "widgets.yaml")


def test_a_full_body_to_the_cloud(res):
    body = {"widgetName": "w1", "id": "ignored, read-only", "size": "8", "ratio": 0.5,
            "enabled": "false", "color": "red", "zone": "z1", "secret": "s3cr3t",
            "plan": "gold", "origin": "ignored", "firstAddr": "10.0.0.1",
            "secondAddr": "10.0.0.2", "labels": {"tier": "db"}, "tags": ["a", "b"],
            "ports": [{"number": 80}, {"number": "53", "proto": "udp"}],
            "matrix": [[1, 2], ["3"]], "owner": {"id": "u1", "mail": "x@y", "extra": 1},
            "blob": {"any": ["thing"]}, "note": "local", "unknown": "ignored"}
    assert res.to_cloud(body) == {
        "name": "w1", "spec:size": 8, "tuning": {"ratio": 0.5}, "flags": {"enabled": False},
        "color": "red", "kind": "plain", "zone_hint": "z1", "secret": "s3cr3t",
        "addrs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "labels": {"tier": "db"},
        "tags": [{"label": "a"}, {"label": "b"}],
        "ports": [{"port": 80, "protocol": "tcp"}, {"port": 53, "protocol": "udp"}],
        "matrix": [[1, 2], [3]], "owner": {"uuid": "u1", "contact": {"mail": "x@y"}},
        "blob": {"any": ["thing"]}}


def test_the_checked_body_keeps_local_and_unsent_fields(res):
    checked = res.validate({"name": "w", "plan": "gold", "note": "n",
                            "labels": [{"keyName": "a", "value": 1}]})
    assert checked == {"name": "w", "size": 4, "enabled": True, "kind": "plain",
                       "plan": "gold", "note": "n", "labels": [{"keyName": "a", "value": 1}]}


def test_defaults_and_minimal_body(res):
    assert res.to_cloud({"name": "w"}) == {"name": "w", "spec:size": 4,
                                           "flags": {"enabled": True}, "kind": "plain"}


def test_partial_bodies_for_update(res):
    assert res.to_cloud({"size": 2}, partial=True) == {"spec:size": 2}
    assert res.to_cloud({}, partial=True) == {}
    with pytest.raises(RequestError, match="^size must be at most 64$"):
        res.to_cloud({"size": 65}, partial=True)


def test_null_counts_as_not_given(res):
    assert res.to_cloud({"name": "w", "color": None, "size": None}) == res.to_cloud(
        {"name": "w"})
    with pytest.raises(RequestError, match="^name is required$"):
        res.to_cloud({"name": None})


@pytest.mark.parametrize("body,field,message", [
    ([], "", "the request body must be a JSON object"),
    ({"name": 5}, "name", "name must be a string"),
    ({"name": "w", "size": 0}, "size", "size must be at least 1"),
    ({"name": "w", "size": 2.5}, "size", "size must be an integer"),
    ({"name": "w", "size": "2x"}, "size", "size must be an integer"),
    ({"name": "w", "ratio": "0.5"}, "ratio", "ratio must be a number"),
    ({"name": "w", "ratio": False}, "ratio", "ratio must be a number"),
    ({"name": "w", "enabled": 2}, "enabled", "enabled must be a boolean"),
    ({"name": "w", "enabled": "yes"}, "enabled", "enabled must be a boolean"),
    ({"name": "w", "color": "blue"}, "color", "color must be one of red, green"),
    ({"name": "w", "tags": [1]}, "tags[0]", "tags[0] must be a string"),
    ({"name": "w", "ports": [{"proto": "tcp"}]}, "ports[0].number",
     "ports[0].number is required"),
    ({"name": "w", "ports": [{"number": 1}, {"number": 0}]}, "ports[1].number",
     "ports[1].number must be at least 1"),
    ({"name": "w", "ports": ["80"]}, "ports[0]", "ports[0] must be an object"),
    ({"name": "w", "matrix": [[1], [True]]}, "matrix[1][0]",
     "matrix[1][0] must be an integer"),
    ({"name": "w", "owner": {"mail": "x"}}, "owner.id", "owner.id is required"),
    ({"name": "w", "owner": "u1"}, "owner", "owner must be an object"),
    ({"name": "w", "labels": "a=b"}, "labels",
     "labels must be an array of {keyName, value} objects"),
    ({"name": "w", "labels": [{"value": "b"}]}, "labels[0].keyName",
     "labels[0].keyName must be a non-empty string"),
    ({"name": "w", "blob": []}, "blob", "blob must be an object"),
])
def test_request_errors_name_the_field(res, body, field, message):
    with pytest.raises(RequestError) as info:
        res.to_cloud(body)
    assert (info.value.field, str(info.value), info.value.message) == (field, message, message)


def test_booleans_and_integers_in_their_other_forms(res):
    for given, sent in ((1, True), (0, False), ("TRUE", True), ("False", False)):
        assert res.to_cloud({"name": "w", "enabled": given})["flags"] == {"enabled": sent}
    for given, sent in (("12", 12), (" 7 ", 7), (3.0, 3), ("+5", 5)):
        assert res.to_cloud({"name": "w", "size": given})["spec:size"] == sent


def test_a_cloud_document_to_multicloud(res):
    doc = {"name": "w1", "id": "0001", "spec:size": 8, "tuning": {"ratio": 0.5},
           "flags": {"enabled": False}, "color": "green", "location": {"zone": "z1"},
           "zone_hint": "ignored", "secret": "s3cr3t", "billing": {"plan": "gold"},
           "addrs": [{"ip": "10.0.0.1"}], "labels": {"tier": "db", "env": "prod"},
           "tags": [{"label": "a"}, {"label": "b"}],
           "ports": [{"port": 80, "protocol": "tcp", "extra": 1}],
           "matrix": [[1], [2, 3]], "owner": {"uuid": "u1", "contact": {"mail": "x@y"}},
           "blob": {"k": "v"}, "other": "not declared"}
    assert res.from_cloud(doc) == {
        "name": "w1", "id": "0001", "size": 8, "ratio": 0.5, "enabled": False,
        "color": "green", "kind": "unknown", "zone": "z1", "plan": "gold",
        "origin": "factory", "firstAddr": "10.0.0.1",
        "labels": [{"keyName": "tier", "value": "db"}, {"keyName": "env", "value": "prod"}],
        "tags": ["a", "b"], "ports": [{"number": 80, "proto": "tcp"}],
        "matrix": [[1], [2, 3]], "owner": {"id": "u1", "mail": "x@y"}, "blob": {"k": "v"}}


def test_missing_values_give_defaults_or_nothing(res):
    out = res.from_cloud({})
    # answer_default wins over default; a default answers when the cloud has
    # nothing; a field without either is left out.
    assert out == {"size": 4, "enabled": True, "color": None, "kind": "unknown",
                   "origin": "factory"}


def test_answer_defaults_are_fresh_copies():
    res = parse_declaration("""
resource: things
singular: thing
operations: [get]
cloud: {service: x, path: /things, item_key: thing}
fields:
  id: {type: string, source: id}
  list: {type: array, source: list, answer_default: []}
""", "things.yaml")
    first = res.from_cloud({})
    first["list"].append(1)
    assert res.from_cloud({}) == {"list": []}


def test_odd_values_are_answered_as_declared_or_null(res):
    """Answers keep to their schema: a value converts when nothing is lost
    (5 -> "5", "80" -> 80), else it is null; containers are left as they are."""
    doc = {"name": 5, "spec:size": "big", "flags": "on", "addrs": "10.0.0.1",
           "labels": ["x"], "tags": ["plain", {"other": 1}, {"label": "ok"}],
           "ports": [None, {"port": "80"}], "owner": ["u1"], "matrix": "none"}
    assert res.from_cloud(doc) == {
        "name": "5", "size": None, "enabled": True, "color": None, "kind": "unknown",
        "origin": "factory", "labels": ["x"], "tags": ["plain", {"other": 1}, "ok"],
        "ports": [None, {"number": 80, "proto": "tcp"}], "owner": None,
        "matrix": None}


def test_source_paths():
    path = SourcePath.parse("a.b[2].c:d[0][1]")
    assert path.steps == ("a", "b", 2, "c:d", 0, 1)
    doc: dict = {}
    path.put(doc, "v")
    assert doc == {"a": {"b": [{}, {}, {"c:d": [[None, "v"]]}]}}
    assert path.get(doc) == (True, "v")
    assert SourcePath.parse("a.x").get(doc) == (False, None)
    assert SourcePath.parse("a.b[5]").get(doc) == (False, None)
    assert SourcePath.parse("a[0]").get(doc) == (False, None)
    assert SourcePath.parse("OS-EXT-AZ:availability_zone").steps == (
        "OS-EXT-AZ:availability_zone",)
    for bad in ("", "a.", ".a", "a[", "a[-1]", "a]b", "a b", "[0]"):
        with pytest.raises(ValueError):
            SourcePath.parse(bad)

"""Every bad declaration is refused at load with one line naming the file and
the key at fault."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from multicloud_broker.plugin import DeclarationError, load_declarations, load_file

BASE: dict[str, Any] = {
    "resource": "networks",
    "singular": "network",
    "operations": ["list", "get", "create", "delete"],
    "cloud": {"service": "network", "path": "/v2.0/networks", "list_key": "networks",
              "item_key": "network"},
    "fields": {
        "name": {"type": "string", "source": "name", "required": True},
        "id": {"type": "string", "source": "id", "read_only": True},
        "segmentationId": {"type": "integer", "source": "provider:segmentation_id"},
        "hostRoutes": {"type": "array", "source": "host_routes", "items": {
            "type": "object", "fields": {
                "nexthop": {"type": "string", "source": "nexthop"}}}},
    },
}


def _write(tmp_path: Path, data: Any, name: str = "networks.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def _change(path: str, value: Any) -> dict:
    """BASE with the key at the dotted `path` set (or removed when value is DROP)."""
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is DROP:
        del node[last]
    else:
        node[last] = value
    return doc


DROP = object()


def test_the_base_declaration_loads(tmp_path):
    res = load_file(_write(tmp_path, BASE))
    assert res.name == "networks"


CASES = [
    # (change, where, message fragment)
    (("fields.segmentationId.type", "int"), "fields.segmentationId.type",
     "must be one of string, integer, number, boolean, object, array (got 'int')"),
    (("resourse", "networks"), "resourse", "unknown key (expected one of resource,"),
    (("cloud", DROP), "cloud", "required key is missing"),
    (("cloud.item_key", DROP), "cloud.item_key", "required key is missing"),
    (("fields.name.type", DROP), "fields.name.type", "required key is missing"),
    (("fields.name.sorce", "name"), "fields.name.sorce", "unknown key (expected one of type,"),
    (("fields.name.source", "fixed_ips[x].ip_address"), "fields.name.source",
     "bad path 'fixed_ips[x].ip_address'"),
    (("fields.name.source", "a..b"), "fields.name.source", "bad path 'a..b'"),
    (("fields.name.source", ""), "fields.name.source", "must be a non-empty string"),
    (("fields.name.aliases", ["segmentationId"]), "fields.segmentationId",
     "MultiCloud name 'segmentationId' is already used (by alias of name)"),
    (("operations", ["list", "patch"]), "operations[1]",
     "must be one of list, get, create, delete, update (got 'patch')"),
    (("operations", []), "operations", "declares no operation"),
    (("operations", "list"), "operations", "must be a list (got a string)"),
    (("cloud.list_key", DROP), "cloud.list_key", "required key is missing (the resource has list)"),
    (("cloud.path", "v2.0/networks"), "cloud.path", "must be an absolute path"),
    (("cloud.service", "Network Service"), "cloud.service", "must be a catalog service type"),
    (("fields.segmentationId.enum", [1, "two"]), "fields.segmentationId.enum[1]",
     "value must be an integer"),
    (("fields.segmentationId.default", "ten"), "fields.segmentationId.default",
     "not a valid value: segmentationId must be an integer"),
    (("fields.segmentationId.minimum", "0"), "fields.segmentationId.minimum",
     "must be a number"),
    (("fields.name.minimum", 1), "fields.name.minimum", "only integers and numbers have a minimum"),
    (("fields.id.required", True), "fields.id.read_only", "a read-only field cannot be required"),
    (("fields.name.default", "x"), "fields.name.default", "a required field cannot have a default"),
    (("fields.name.required", "sure"), "fields.name.required", "must be true or false"),
    (("fields.name.fields", {}), "fields.name.fields", "only an object has fields"),
    (("fields.name.items", {"type": "string"}), "fields.name.items", "only an array has items"),
    (("fields.hostRoutes.pairs", {"key": "k", "value": "v"}), "fields.hostRoutes.pairs",
     "an array has either items or pairs"),
    (("fields.hostRoutes.items.fields.nexthop.type", "str"),
     "fields.hostRoutes.items.fields.nexthop.type", "must be one of string,"),
    (("fields.hostRoutes.items.required", True), "fields.hostRoutes.items.required",
     "unknown key"),
    (("hook", "Servers!"), "hook", "must be lower case letters, digits and _"),
    (("scope", "global"), "scope", "must be one of tenant, region (got 'global')"),
    (("id_field", "uuid"), "id_field", "no field 'uuid' is declared"),
    (("match_on", ["name", "cidr"]), "match_on[1]", "no field 'cidr' is declared"),
    (("singleton", True), "operations", "a singleton has exactly one operation: get"),
    (("fields", {}), "fields", "declares no field"),
    (("fields", ["name"]), "fields", "must be a mapping (got a list)"),
    (("resource", "Networks"), "resource", "must be lower case letters"),
]


@pytest.mark.parametrize("change,where,fragment", CASES, ids=[c[1] for c in CASES])
def test_each_mistake_is_one_line_naming_file_and_key(tmp_path, change, where, fragment):
    path = _write(tmp_path, _change(*change))
    with pytest.raises(DeclarationError) as info:
        load_file(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: {where}: "), text
    if fragment:
        assert fragment in text, text
    assert info.value.file == str(path) and info.value.where == where


def test_the_example_of_the_format(tmp_path):
    path = _write(tmp_path, _change("fields.segmentationId.type", "int"))
    with pytest.raises(DeclarationError) as info:
        load_declarations([tmp_path])
    assert str(info.value) == (
        f"{path}: fields.segmentationId.type: must be one of string, integer, number, "
        "boolean, object, array (got 'int')")


def test_overlapping_paths_name_both_fields(tmp_path):
    doc = _change("fields.id.source", "provider")
    doc["fields"]["id"]["read_only"] = False
    doc["fields"]["segmentationId"]["source"] = "provider.segmentation_id"
    with pytest.raises(DeclarationError) as info:
        load_file(_write(tmp_path, doc))
    assert str(info.value).endswith(
        "fields.segmentationId.source: provider.segmentation_id overlaps provider, "
        "written by field id")


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = _write(tmp_path, "resource: networks\nsingular: [network\nfields: {}\n")
    with pytest.raises(DeclarationError) as info:
        load_file(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: line 3, column ")
    assert "not valid YAML" in text


def test_duplicate_field_names_are_refused(tmp_path):
    text = yaml.safe_dump(BASE, sort_keys=False) + ""
    text = text.replace("  id:\n", "  name:\n", 1)
    path = _write(tmp_path, text)
    with pytest.raises(DeclarationError) as info:
        load_file(path)
    assert str(info.value).startswith(f"{path}: fields.name: duplicate key (lines ")


@pytest.mark.parametrize("text,message", [
    ("", "empty file"),
    ("# nothing\n", "empty file"),
    ("- a\n- b\n", "must be a mapping (got a list)"),
    ("just text\n", "must be a mapping (got a string)"),
])
def test_files_that_are_no_declaration(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DeclarationError) as info:
        load_file(path)
    assert str(info.value) == f"{path}: {message}"


def test_unreadable_file(tmp_path):
    path = tmp_path / "networks.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DeclarationError) as info:
        load_file(path)
    assert str(info.value).startswith(f"{path}: cannot read: ")
    assert "\n" not in str(info.value)


def test_a_missing_directory(tmp_path):
    with pytest.raises(DeclarationError) as info:
        load_declarations([tmp_path / "nowhere"])
    assert str(info.value) == f"{tmp_path / 'nowhere'}: not a directory"


def test_two_files_of_one_directory_declaring_one_resource(tmp_path):
    _write(tmp_path, BASE, "a.yaml")
    second = _write(tmp_path, BASE, "b.yml")
    with pytest.raises(DeclarationError) as info:
        load_declarations([tmp_path])
    assert str(info.value) == (
        f"{second}: resource: 'networks' is already declared by {tmp_path / 'a.yaml'}")


VIO_BASE = """
paths:
  /{vimid}/{tenantid}/ports/{portid}:
    get: {}
    get_all: {}
    post: {}
    vim_path: "/network/v2.0/ports"
definitions:
  port:
    vim_resource: port
    plural_vim_resource: ports
    plural: ports
    properties:
      id: {type: string, source: port.id}
      name: {type: string, source: port.name, required: true}
      ip: {source: "port.fixed_ips[0].ip_address"}
"""


@pytest.mark.parametrize("old,new,where,fragment", [
    ('source: "port.fixed_ips[0].ip_address"', 'source: "prt.fixed_ips[0].ip_address"',
     "definitions.port.properties.ip.source", "must be port.<path>"),
    ('source: "port.fixed_ips[0].ip_address"', 'source: "port.fixed_ips[].ip_address"',
     "definitions.port.properties.ip.source", "bad path"),
    ("source: port.id", "sourc: port.id", "definitions.port.properties.id.source",
     "required key is missing"),
    ('vim_path: "/network/v2.0/ports"', 'vim_path: "network"',
     "paths./{vimid}/{tenantid}/ports/{portid}.vim_path", "must be /<service type>/<path>"),
    ('    vim_path: "/network/v2.0/ports"\n', "",
     "paths./{vimid}/{tenantid}/ports/{portid}.vim_path", "required key is missing"),
    ("/{vimid}/{tenantid}/ports/{portid}:", "/ports/{portid}:",
     "paths./ports/{portid}", "must be /{vimid}/{tenantid}/<resource>[/{id}]"),
    ("    plural: ports\n", "", "definitions.port.plural", "required key is missing"),
    ("type: string, source: port.id", "type: uuid, source: port.id",
     "definitions.port.properties.id.type", "must be one of string,"),
    ("    get: {}\n    get_all: {}\n    post: {}\n", "    put: {}\n",
     "paths./{vimid}/{tenantid}/ports/{portid}", "declares none of get, get_all, post, delete"),
])
def test_vio_format_mistakes(tmp_path, old, new, where, fragment):
    assert old in VIO_BASE
    path = _write(tmp_path, VIO_BASE.replace(old, new), "ports.yaml")
    with pytest.raises(DeclarationError) as info:
        load_file(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: {where}: "), text
    assert fragment in text, text


def test_vio_format_with_two_paths(tmp_path):
    text = VIO_BASE.replace("definitions:", "  /{vimid}/{tenantid}/x: {}\ndefinitions:")
    path = _write(tmp_path, text, "ports.yaml")
    with pytest.raises(DeclarationError) as info:
        load_file(path)
    assert str(info.value) == f"{path}: paths: must hold exactly one path (got 2)"

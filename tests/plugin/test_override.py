"""Operators' directories: a later directory replaces resources of the same
name, whole, and adds new ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from multicloud_broker.plugin import (
    BUILTIN_DIR,
    DeclarationError,
    load_builtin,
    load_declarations,
    swagger_document,
)

OWN_NETWORKS = """
# The operator's networks: no provider attributes, a description field.
resource: networks
singular: network
operations: [list, get, create]
cloud:
  service: network
  path: /v2.0/networks
  list_key: networks
  item_key: network
fields:
  name: {type: string, source: name, required: true}
  id: {type: string, source: id, read_only: true}
  description: {type: string, source: description, default: "made by ONAP"}
  shared: {type: boolean, source: shared, default: false}
"""

SECURITY_GROUPS = """
resource: security-groups
singular: security-group
list_key: securityGroups
operations: [list, get, create, delete, update]
cloud:
  service: network
  path: /v2.0/security-groups
  list_key: security_groups
  item_key: security_group
  tenant_filter: project_id
fields:
  name: {type: string, source: name, required: true}
  id: {type: string, source: id, read_only: true}
  description: {type: string, source: description}
  rules:
    type: array
    source: security_group_rules
    read_only: true
    items:
      type: object
      fields:
        direction: {type: string, source: direction}
        protocol: {type: string, source: protocol}
        portMin: {type: integer, source: port_range_min}
        portMax: {type: integer, source: port_range_max}
"""


@pytest.fixture
def own_dir(tmp_path: Path) -> Path:
    (tmp_path / "networks.yaml").write_text(OWN_NETWORKS)
    (tmp_path / "security-groups.yml").write_text(SECURITY_GROUPS)
    (tmp_path / "README.md").write_text("not a declaration")
    (tmp_path / "notes.json").write_text("{}")
    return tmp_path


def test_a_later_directory_replaces_and_adds(own_dir):
    builtin = load_builtin()
    merged = load_declarations([BUILTIN_DIR, own_dir])
    assert set(merged) == set(builtin) | {"security-groups"}
    assert merged["networks"].origin == str(own_dir / "networks.yaml")
    for name in set(builtin) - {"networks"}:
        assert merged[name] == builtin[name]
    # Replaced whole: the built-in provider fields are gone.
    own = merged["networks"]
    assert own.operations == ("list", "get", "create")
    assert own.field("segmentationId") is None
    assert own.to_cloud({"name": "n"}) == {"name": "n", "description": "made by ONAP",
                                           "shared": False}


def test_the_order_of_directories_decides(own_dir):
    merged = load_declarations([own_dir, BUILTIN_DIR])
    assert merged["networks"] == load_builtin()["networks"]
    assert "security-groups" in merged


def test_an_added_resource_works_end_to_end(own_dir):
    merged = load_declarations([BUILTIN_DIR, own_dir])
    sg = merged["security-groups"]
    doc = {"id": "sg1", "name": "web", "description": "http in",
           "security_group_rules": [{"direction": "ingress", "protocol": "tcp",
                                     "port_range_min": 80, "port_range_max": 80,
                                     "ethertype": "IPv4"}]}
    assert sg.from_cloud(doc) == {"name": "web", "id": "sg1", "description": "http in",
                                  "rules": [{"direction": "ingress", "protocol": "tcp",
                                             "portMin": 80, "portMax": 80}]}
    assert sg.wrap(sg.to_cloud({"name": "web", "rules": []})) == {
        "security_group": {"name": "web"}}
    paths = swagger_document(merged, "multicloud-openstack")["paths"]
    base = "/api/multicloud-openstack/v1/{cloud_owner}/{cloud_region_id}/{tenantid}"
    assert set(paths[f"{base}/security-groups/{{securitygroupid}}"]) == {
        "parameters", "get", "put", "delete"}
    assert set(paths[f"{base}/networks"]) == {"parameters", "get", "post"}


def test_a_bad_operator_file_names_itself(own_dir):
    (own_dir / "volumes.yaml").write_text("resource: volumes\nsingular: volume\n")
    with pytest.raises(DeclarationError) as info:
        load_declarations([BUILTIN_DIR, own_dir])
    assert str(info.value).startswith(f"{own_dir / 'volumes.yaml'}: operations: ")


def test_no_directory_no_resource():
    assert load_declarations([]) == {}

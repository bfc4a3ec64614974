"""The Swagger document as generated, without a server: complete and self-consistent.
(What a running broker serves, and whether it behaves as documented, is checked
in tests/contract/test_local_endpoints.py and test_schema_fuzz.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from multicloud_broker.core.routes import ROUTES
from multicloud_broker.core.swagger import swagger_document


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves() -> None:
    doc = json.loads(swagger_document())
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, ref
            node = node[part]


def test_every_route_and_method_is_an_operation() -> None:
    doc = json.loads(swagger_document())
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    expected = {(route.root + route.template.replace(":path", ""), method.lower())
                for route in ROUTES for method in route.methods}
    assert documented == expected


def test_the_capacity_bound_is_the_one_given() -> None:
    doc = json.loads(swagger_document(capacity_max_vims=7))
    for version in ("V0", "V1"):
        assert doc["definitions"][f"CapacityRequest{version}"]["properties"]["VIMs"][
            "maxItems"] == 7


def test_operation_ids_are_unique() -> None:
    doc = json.loads(swagger_document())
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
